import 'leaflet/dist/leaflet.css';
import './style.css';
import * as L from 'leaflet';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const token = location.pathname.split('/').filter(Boolean).pop() ?? '';
const result = $<HTMLParagraphElement>('result');
const coords = $<HTMLParagraphElement>('coords');
const locateBtn = $<HTMLButtonElement>('locate');
const confirmBtn = $<HTMLButtonElement>('confirm');
const addressForm = $<HTMLFormElement>('address-form');
const addressInput = $<HTMLInputElement>('address');
const findBtn = $<HTMLButtonElement>('find');

const MESSAGES: Record<string, string> = {
  viable: 'Boa notícia! Temos cobertura no seu endereço. Você já pode voltar à conversa.',
  not_viable: 'Há rede perto de você, mas no momento não há porta disponível. Você já pode voltar à conversa.',
  not_found: 'Ainda não temos cobertura nesse local. Você já pode voltar à conversa.',
};

function show(status: string, text: string): void {
  result.dataset.status = status;
  result.textContent = text;
}

function closed(state: string): void {
  locateBtn.disabled = true;
  findBtn.disabled = true;
  addressInput.disabled = true;
  confirmBtn.disabled = true;
  show('error', state === 'used' ? 'Este link já foi usado.' : state === 'expired' ? 'Este link expirou. Peça um novo na conversa.' : 'Este link não existe.');
}

const map = L.map('map', { zoomControl: true }).setView([-15.78, -47.93], 4);
let pin: L.Marker | undefined;

function place(lat: number, lng: number, zoom?: number, label?: string): void {
  const at = L.latLng(lat, lng);
  if (!pin) {
    pin = L.marker(at, { draggable: true, icon: L.divIcon({ className: '', html: '<div class="pin"></div>', iconSize: [22, 22], iconAnchor: [11, 22] }) }).addTo(map);
    pin.on('dragend', () => describe());
  } else pin.setLatLng(at);
  map.setView(at, zoom ?? Math.max(map.getZoom(), 17));
  describe(label);
}

/** Where the pin stands, on the first copy of the world: one dropped on a copy beside it has a longitude beyond ±180. */
const picked = (marker: L.Marker): L.LatLng => marker.getLatLng().wrap();

function describe(label?: string): void {
  if (!pin) return;
  const p = picked(pin);
  coords.textContent = `${label ? `${label} — ` : ''}Ponto marcado: ${p.lat.toFixed(6)}, ${p.lng.toFixed(6)}`;
  confirmBtn.disabled = false;
}

map.on('click', (e: L.LeafletMouseEvent) => place(e.latlng.lat, e.latlng.lng, map.getZoom()));

locateBtn.addEventListener('click', () => {
  if (!navigator.geolocation) {
    show('error', 'Seu navegador não informa a localização; arraste o marcador no mapa.');
    return;
  }
  show('', 'Buscando sua localização…');
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      show('', '');
      place(pos.coords.latitude, pos.coords.longitude);
    },
    () => show('error', 'Não foi possível obter sua localização; toque no mapa para marcar o ponto.'),
    { enableHighAccuracy: true, timeout: 15_000 },
  );
});

addressForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const address = addressInput.value.trim();
  if (!address) return;
  findBtn.disabled = true;
  show('', 'Buscando o endereço…');
  void fetch(`/findme/${encodeURIComponent(token)}/locate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address }),
  })
    .then(async (res) => {
      const body = (await res.json()) as { found?: boolean; lat?: number; lng?: number; displayName?: string; candidates?: string[]; state?: string };
      if (res.status === 410) return closed(body.state ?? 'expired');
      if (!res.ok) return show('error', 'Não foi possível buscar o endereço; marque o ponto no mapa.');
      if (!body.found) {
        return show('error', body.candidates?.length ? 'Endereço ambíguo: inclua número, bairro e cidade.' : 'Endereço não encontrado; confira ou marque o ponto no mapa.');
      }
      show('', 'Confira o marcador (arraste se precisar) e confirme.');
      place(body.lat!, body.lng!, 17, body.displayName);
    })
    .catch(() => show('error', 'Sem conexão; tente de novo.'))
    .finally(() => (findBtn.disabled = false));
});

confirmBtn.addEventListener('click', () => {
  if (!pin) return;
  const { lat, lng } = picked(pin);
  confirmBtn.disabled = true;
  show('', 'Verificando…');
  void fetch(`/findme/${encodeURIComponent(token)}/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ lat, lng }),
  })
    .then(async (res) => {
      const body = (await res.json()) as { status?: string; state?: string };
      if (res.status === 410) return closed(body.state ?? 'expired');
      if (!res.ok || !body.status) {
        confirmBtn.disabled = false;
        return show('error', 'Algo deu errado; tente de novo.');
      }
      locateBtn.disabled = true;
      findBtn.disabled = true;
      addressInput.disabled = true;
      if (pin) pin.dragging?.disable();
      show(body.status, MESSAGES[body.status] ?? body.status);
    })
    .catch(() => {
      confirmBtn.disabled = false;
      show('error', 'Sem conexão; tente de novo.');
    });
});

void fetch(`/findme/${encodeURIComponent(token)}/state`)
  .then(async (res) => {
    if (res.status === 404) return closed('unknown');
    const s = (await res.json()) as { state: string; tileUrl?: string };
    if (s.tileUrl) L.tileLayer(s.tileUrl, { maxZoom: 19, attribution: '© OpenStreetMap' }).addTo(map);
    if (s.state !== 'open') closed(s.state);
  })
  .catch(() => show('error', 'Sem conexão.'));
