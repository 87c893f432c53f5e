/** Server-Sent Events over fetch, so the API key can travel in a header (EventSource cannot send one). */
export interface SseEvent {
  event: string;
  data: string;
}

export async function readSse(res: Response, onEvent: (e: SseEvent) => void, signal: AbortSignal): Promise<void> {
  if (!res.body) throw new Error('no stream body');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined));
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut: number;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + (buf[cut] === '\r' ? 4 : 2));
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length) onEvent({ event, data: data.join('\n') });
    }
  }
}
