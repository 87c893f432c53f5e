import 'leaflet/dist/leaflet.css';
import * as L from 'leaflet';

/** A box placed on the map (when the check answer carries its position). */
export interface MapBox {
  name: string;
  lat?: number;
  lng?: number;
  kind: 'chosen' | 'alternative' | 'refused';
  color: string;
  label: string;
}

export interface PointMap {
  show(point: { lat: number; lng: number }, radiusMeters: number, boxes: MapBox[]): void;
  destroy(): void;
}

/** Tooltip content as text: a string would be set as HTML, and box names come from imported files. */
function text(s: string): HTMLElement {
  const span = document.createElement('span');
  span.textContent = s;
  return span;
}

/**
 * A Leaflet map of the checked point, the drop-distance circle and the boxes. Tiles are optional:
 * without a tile URL the map is a plain grid (nothing is fetched from outside). A click picks a point.
 */
export function createPointMap(el: HTMLElement, onPick: (lat: number, lng: number) => void, o: { pointColor: string; tileUrl?: string }): PointMap {
  const { pointColor, tileUrl } = o;
  const map = L.map(el, { zoomControl: true, attributionControl: !!tileUrl }).setView([-15.78, -47.93], 4);
  if (tileUrl) L.tileLayer(tileUrl, { maxZoom: 19 }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  const layer = L.layerGroup().addTo(map);
  map.on('click', (e: L.LeafletMouseEvent) => {
    // A click on a copy of the world beside the first one has a longitude beyond ±180, which the check refuses.
    const at = e.latlng.wrap();
    onPick(Number(at.lat.toFixed(6)), Number(at.lng.toFixed(6)));
  });
  return {
    show(point, radiusMeters, boxes) {
      layer.clearLayers();
      const at = L.latLng(point.lat, point.lng);
      const circle = L.circle(at, { radius: radiusMeters, color: '#1d5fd1', weight: 1, fillOpacity: 0.06 }).addTo(layer);
      L.circleMarker(at, { radius: 7, color: '#13233f', fillColor: pointColor, fillOpacity: 1, weight: 2 }).bindTooltip(text('the point checked')).addTo(layer);
      for (const b of boxes) {
        if (b.lat === undefined || b.lng === undefined) continue;
        L.circleMarker([b.lat, b.lng], { radius: b.kind === 'chosen' ? 8 : 6, color: b.color, fillColor: b.color, fillOpacity: 0.8, weight: 2 })
          .bindTooltip(text(`${b.name}: ${b.label}`))
          .addTo(layer);
      }
      map.invalidateSize();
      map.fitBounds(circle.getBounds(), { padding: [16, 16] });
    },
    destroy() {
      map.remove();
    },
  };
}
