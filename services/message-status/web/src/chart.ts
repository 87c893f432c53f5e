/** A small stacked-bar chart on canvas: status moves per time bucket. No library, no CDN. */
export const STATUS_COLOURS: Record<string, string> = {
  queued: '#98a2b3',
  sent: '#53b1fd',
  delivered: '#2e90fa',
  read: '#12b76a',
  failed: '#f04438',
};

export interface Bucket {
  bucket: string;
  status: string;
  count: number;
}

export function drawChart(canvas: HTMLCanvasElement, buckets: Bucket[], from: Date, to: Date, stepMs: number): void {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  canvas.width = cssW * dpr;
  canvas.height = cssH * dpr;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, cssW, cssH);
  const start = Math.floor(from.getTime() / stepMs) * stepMs;
  const n = Math.max(1, Math.ceil((to.getTime() - start) / stepMs));
  const slots: Array<Record<string, number>> = Array.from({ length: n }, () => ({}));
  for (const b of buckets) {
    const i = Math.floor((Date.parse(b.bucket) - start) / stepMs);
    if (i >= 0 && i < n) slots[i][b.status] = (slots[i][b.status] ?? 0) + b.count;
  }
  const max = Math.max(1, ...slots.map((s) => Object.values(s).reduce((a, c) => a + c, 0)));
  const left = 40;
  const bottom = cssH - 20;
  const plotH = bottom - 10;
  const w = (cssW - left - 10) / n;
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#6b7280';
  ctx.strokeStyle = '#e5e7eb';
  for (const f of [0, 0.5, 1]) {
    const y = bottom - plotH * f;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(cssW - 10, y);
    ctx.stroke();
    ctx.fillText(String(Math.round(max * f)), 4, y + 4);
  }
  slots.forEach((slot, i) => {
    let y = bottom;
    for (const status of Object.keys(STATUS_COLOURS)) {
      const c = slot[status] ?? 0;
      if (!c) continue;
      const h = (c / max) * plotH;
      ctx.fillStyle = STATUS_COLOURS[status];
      ctx.fillRect(left + i * w + 1, y - h, Math.max(1, w - 2), h);
      y -= h;
    }
  });
  ctx.fillStyle = '#6b7280';
  const fmt = (t: number) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  ctx.fillText(fmt(start), left, cssH - 4);
  ctx.fillText(fmt(start + n * stepMs), cssW - 50, cssH - 4);
}
