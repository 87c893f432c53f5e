import 'reflect-metadata';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@elo/platform';
import { ConsoleConfig } from '../config/console.config';
import { createConsoleApp } from '../console-app';
import { findWebDist } from './spa.service';

async function readyStatus(webDistDir?: string): Promise<{ ready: number; config: Record<string, unknown> }> {
  const app = await createConsoleApp(loadConfig(ConsoleConfig, { PORT: '0', LOG_LEVEL: 'silent', ...(webDistDir ? { WEB_DIST_DIR: webDistDir } : {}) }));
  await app.listen(0, '127.0.0.1');
  try {
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const ready = (await fetch(`${base}/health/ready`)).status;
    const config = (await (await fetch(`${base}/console-config.json`)).json()) as Record<string, unknown>;
    return { ready, config };
  } finally {
    await app.close();
  }
}

describe('the built web app', () => {
  it('is committed in services/console/web/dist and found without configuration: ready is 200', async () => {
    const dist = findWebDist();
    expect(dist).toBeDefined();
    expect(existsSync(join(dist!, 'index.html'))).toBe(true);
    const { ready, config } = await readyStatus();
    expect(ready).toBe(200);
    // The Keys section offers these; tenants:manage belongs to the bootstrap admin alone.
    expect(config['permissions']).toEqual(expect.arrayContaining(['integrations:manage', 'keys:manage']));
    expect(config['permissions']).not.toContain('tenants:manage');
  });

  it('ready is 503 while the app is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'console-empty-'));
    try {
      expect((await readyStatus(empty)).ready).toBe(503);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
