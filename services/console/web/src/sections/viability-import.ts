import { storedKey } from '../api';

export interface ImportOutcome {
  inserted: number;
  updated: number;
  errors: Array<{ line: number; reason: string }>;
  errorCount: number;
}

/** The media type viability parses the file as: CSV, or a GeoJSON FeatureCollection. */
export function importType(file: File): string {
  const name = file.name.toLowerCase();
  if (name.endsWith('.csv') || file.type === 'text/csv') return 'text/csv';
  if (name.endsWith('.geojson') || name.endsWith('.json') || /json/.test(file.type)) return 'application/geo+json';
  return 'text/csv';
}

/**
 * Sends the file to `POST /api/viability/inventory/import` as it is read (the browser streams a File
 * body; the console forwards it as it comes and viability parses it as it arrives). XMLHttpRequest,
 * because fetch reports no upload progress.
 */
export function uploadInventory(
  kind: 'boxes' | 'poles',
  file: File,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/viability/inventory/import?kind=${kind}`);
    xhr.setRequestHeader('authorization', `Bearer ${storedKey() ?? ''}`);
    xhr.setRequestHeader('content-type', importType(file));
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener('load', () => {
      let body: unknown = xhr.responseText;
      try {
        body = JSON.parse(xhr.responseText) as unknown;
      } catch {
        // not JSON: kept as text
      }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener('error', () => reject(new Error('the upload broke off (the console server did not answer)')));
    xhr.addEventListener('abort', () => reject(new DOMException('the upload was cancelled', 'AbortError')));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}
