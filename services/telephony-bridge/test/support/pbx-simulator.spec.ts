import { startPbxSimulator, type PbxSimulator } from './pbx-simulator';

describe('PBX simulator', () => {
  const sims: PbxSimulator[] = [];
  const start = async (o: Parameters<typeof startPbxSimulator>[0]) => {
    const s = await startPbxSimulator(o);
    sims.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of sims) await s.close();
  });

  it('callIdFormat text answers the call id as plain text; json as data.call.id', async () => {
    const text = await start({ callIdFormat: 'text' });
    const t = await fetch(`${text.url}/click2call?ramal=1001&telefone=41988445566`);
    expect(t.status).toBe(200);
    expect(await t.text()).toMatch(/^\d+\.\d+$/);
    const json = await start({ callIdFormat: 'json' });
    const j = await fetch(`${json.url}/click2call`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ramal: '1001', telefone: '41988445566' }),
    });
    expect(((await j.json()) as { data: { call: { id: string } } }).data.call.id).toMatch(/^\d+\.\d+$/);
    expect(json.requests.at(-1)).toMatchObject({ method: 'POST', path: '/click2call' });
  });

  it('mode error answers errorStatus with errorBody; mode timeout never answers', async () => {
    const err = await start({ mode: 'error', errorStatus: 503, errorBody: 'no trunk' });
    const r = await fetch(`${err.url}/click2call?ramal=1&telefone=2`);
    expect([r.status, await r.text()]).toEqual([503, 'no trunk']);
    const slow = await start({ mode: 'timeout' });
    await expect(fetch(`${slow.url}/click2call?ramal=1&telefone=2`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
  });

  it('serves a RIFF/WAVE recording of wavBytes at /recordings/{callid} and /recording?callid=, checking chave', async () => {
    const s = await start({ wavBytes: 10_000, chave: 'k' });
    for (const path of ['/recordings/1537276453.47245539?chave=k', '/recording?callid=1537276453.47245539&chave=k']) {
      const r = await fetch(`${s.url}${path}`);
      const b = Buffer.from(await r.arrayBuffer());
      expect([r.status, r.headers.get('content-type'), b.length]).toEqual([200, 'audio/wav', 10_000]);
      expect([b.subarray(0, 4).toString('latin1'), b.subarray(8, 12).toString('latin1')]).toEqual(['RIFF', 'WAVE']);
    }
    expect((await fetch(`${s.url}/recording?callid=1.2&chave=nope`)).status).toBe(401);
    expect((await fetch(`${s.url}/recording?callid=..%2Fetc&chave=k`)).status).toBe(404);
  });
});
