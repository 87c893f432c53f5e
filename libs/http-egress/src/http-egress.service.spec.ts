import { EgressError } from './egress-error';
import { HttpEgress, type EgressResolver } from './http-egress.service';
import { allowPrivateFromEnv, requestPrivateRangesFromEnv } from './http-egress.module';
import { SSRF_CASES } from './ssrf-cases';

function fakeResolver(answers: Record<string, string[]> = {}): EgressResolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (host: string) => {
    calls.push(host);
    const list = answers[host.toLowerCase().replace(/\.$/, '')];
    if (!list) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(resolver, { calls });
}

async function failure(p: Promise<unknown>): Promise<EgressError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EgressError) return err;
    throw err;
  }
  throw new Error('expected the request to be refused');
}

describe('HttpEgress SSRF matrix', () => {
  it.each(SSRF_CASES.map((c) => [c.id, c] as const))('refuses %s', async (_id, c) => {
    const host = (() => {
      try {
        return new URL(c.url).hostname.replace(/\.$/, '').toLowerCase();
      } catch {
        return '';
      }
    })();
    const resolver = fakeResolver(c.resolvesTo ? { [host]: c.resolvesTo } : {});
    const egress = new HttpEgress({ resolver });
    const err = await failure(egress.request({ method: 'GET', url: c.url, timeoutMs: 2000 }));
    expect(err.kind).toBe(c.kind);
    expect(err.reason).toContain(c.reason);
    // IP literals are judged without DNS; hostnames are resolved exactly once.
    expect(resolver.calls).toHaveLength(c.resolvesTo ? 1 : 0);
  });

  it('every case in the table has a unique id', () => {
    expect(new Set(SSRF_CASES.map((c) => c.id)).size).toBe(SSRF_CASES.length);
  });
});

describe('HttpEgress request validation', () => {
  const egress = new HttpEgress({ resolver: fakeResolver() });

  it.each([
    ['CR/LF in a value', { 'x-a': 'ok\r\nx-injected: 1' }],
    ['LF in a value', { 'x-a': 'ok\nx' }],
    ['NUL in a value', { 'x-a': 'a\u0000b' }],
    ['CR/LF in a name', { 'x-a\r\nx-b': 'v' }],
    ['space in a name', { 'x a': 'v' }],
    ['Host override', { Host: 'internal.example' }],
    ['Transfer-Encoding', { 'transfer-encoding': 'chunked' }],
  ])('refuses %s without echoing the header', async (_name, headers) => {
    const err = await failure(egress.request({ method: 'POST', url: 'http://127.0.0.1/', headers }));
    expect(err.kind).toBe('invalid_request');
    expect(err.message).not.toMatch(/injected|internal\.example|ok/);
  });

  it.each(['CONNECT', 'TRACE', 'GET /x', ''])('refuses method %j', async (method) => {
    const err = await failure(egress.request({ method, url: 'https://example.com/' }));
    expect(err.kind).toBe('invalid_request');
  });

  it('never includes credentials, path or query in errors', async () => {
    const err = await failure(
      egress.request({
        method: 'POST',
        url: 'http://user:s3cret@10.0.0.1/hook?token=abc123',
        headers: { authorization: 'Bearer topsecret' },
        body: 'password=hunter2',
      }),
    );
    expect(err.kind).toBe('blocked');
    for (const secret of ['s3cret', 'abc123', 'topsecret', 'hunter2', 'user']) {
      expect(err.message).not.toContain(secret);
      expect(err.reason).not.toContain(secret);
    }
  });

  it('reports unresolvable hosts as dns errors', async () => {
    const err = await failure(egress.request({ method: 'GET', url: 'http://nowhere.example/' }));
    expect(err).toMatchObject({ kind: 'dns', reason: expect.stringContaining('ENOTFOUND') });
  });

  it('reports a resolver that answers nothing as a dns error', async () => {
    const e = new HttpEgress({ resolver: async () => [] });
    expect((await failure(e.request({ method: 'GET', url: 'http://x.example/' }))).kind).toBe('dns');
  });

  it('times out a resolver that hangs', async () => {
    const e = new HttpEgress({ resolver: () => new Promise(() => undefined) });
    const err = await failure(e.request({ method: 'GET', url: 'http://slow.example/', timeoutMs: 50 }));
    expect(err.kind).toBe('timeout');
  });

  it('refuses non-positive limits', async () => {
    const err = await failure(egress.request({ method: 'GET', url: 'https://example.com/', timeoutMs: 0 }));
    expect(err.kind).toBe('invalid_request');
  });

  it('a per-request policy extends, not replaces, the instance allow-list', async () => {
    const e = new HttpEgress({ resolver: fakeResolver(), allowPrivate: ['10.0.0.1/32'] });
    const err = await failure(
      e.request({ method: 'GET', url: 'http://192.168.0.1/', policy: { allowPrivate: ['10.9.9.9/32'] } }),
    );
    expect(err.kind).toBe('blocked');
  });
});

describe('a per-request allowance opens only private-network ranges', () => {
  // Tenant-supplied (e.g. a PBX profile's host): loopback, link-local and the like stay closed.
  const resolver = fakeResolver({
    'pbx.local': ['127.0.0.1'],
    'metadata.pbx': ['169.254.169.254'],
    'mixed.pbx': ['10.0.0.5', '127.0.0.1'],
    'any.pbx': ['0.0.0.0'],
    'v6.pbx': ['::1'],
  });
  const egress = new HttpEgress({ resolver });

  it.each([
    ['127.0.0.1', ['127.0.0.1/32'], 'address 127.0.0.1 is not public (loopback 127.0.0.0/8)'],
    ['169.254.169.254', ['169.254.169.254/32'], 'address 169.254.169.254 is not public (link-local 169.254.0.0/16)'],
    ['[::1]', ['::1/128'], 'address ::1 is not public (loopback ::1/128)'],
    ['[::ffff:127.0.0.1]', ['127.0.0.1/32'], 'address 127.0.0.1 is not public (loopback 127.0.0.0/8)'],
    ['0.0.0.0', ['0.0.0.0/0'], 'address 0.0.0.0 is not public (this-network 0.0.0.0/8)'],
    ['pbx.local', ['pbx.local'], 'pbx.local resolves to 127.0.0.1, which is not public (loopback 127.0.0.0/8)'],
    ['metadata.pbx', ['metadata.pbx'], 'metadata.pbx resolves to 169.254.169.254, which is not public (link-local'],
    ['mixed.pbx', ['mixed.pbx'], 'mixed.pbx resolves to 127.0.0.1, which is not public (loopback'],
    ['any.pbx', ['any.pbx'], 'any.pbx resolves to 0.0.0.0, which is not public (this-network'],
    ['v6.pbx', ['v6.pbx'], 'v6.pbx resolves to ::1, which is not public (loopback'],
    ['pbx.local', ['127.0.0.0/8'], 'pbx.local resolves to 127.0.0.1, which is not public (loopback'],
  ])('refuses %s allowed per request as %j, saying why', async (host, allowPrivate, reason) => {
    const err = await failure(egress.request({ method: 'GET', url: `http://${host}/`, policy: { allowPrivate } }));
    expect(err.kind).toBe('blocked');
    expect(err.reason).toContain(reason);
    expect(err.reason).toContain(
      'a per-request allowance opens only private-network addresses (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7)',
    );
  });

  it('says nothing of per-request allowances when the request made none', async () => {
    const err = await failure(egress.request({ method: 'GET', url: 'http://127.0.0.1/' }));
    expect(err.reason).toBe('address 127.0.0.1 is not public (loopback 127.0.0.0/8)');
  });

  it('custom requestPrivateRanges are the only ranges a request may open', async () => {
    // (that they open loopback is in test/http-egress.integration-spec.ts, against a real server)
    const loopback = new HttpEgress({ resolver, requestPrivateRanges: ['127.0.0.0/8'] });
    const closed = await failure(loopback.request({ method: 'GET', url: 'http://10.0.0.5/', policy: { allowPrivate: ['10.0.0.5'] } }));
    expect(closed).toMatchObject({ kind: 'blocked', reason: expect.stringContaining('opens only private-network addresses (127.0.0.0/8)') });
    const none = new HttpEgress({ resolver, requestPrivateRanges: [] });
    const err = await failure(none.request({ method: 'GET', url: 'http://10.0.0.5/', policy: { allowPrivate: ['10.0.0.5'] } }));
    expect(err.reason).toContain('a per-request allowance opens no private addresses here');
  });

  it('refuses requestPrivateRanges that are not CIDRs', () => {
    expect(() => new HttpEgress({ requestPrivateRanges: ['pbx.local'] })).toThrow(/CIDRs only/);
    expect(() => new HttpEgress({ requestPrivateRanges: ['10.0.0.0/99'] })).toThrow(/invalid CIDR/);
  });
});

describe('allowPrivateFromEnv', () => {
  it('splits and trims a comma list', () => {
    expect(allowPrivateFromEnv(' 10.0.0.5/32, pbx.local ,,')).toEqual(['10.0.0.5/32', 'pbx.local']);
    expect(allowPrivateFromEnv(undefined)).toEqual([]);
  });
});

describe('requestPrivateRangesFromEnv', () => {
  it('splits a comma list; unset or blank means the default ranges', () => {
    expect(requestPrivateRangesFromEnv(' 10.0.0.0/8, 127.0.0.0/8 ')).toEqual(['10.0.0.0/8', '127.0.0.0/8']);
    expect(requestPrivateRangesFromEnv(undefined)).toBeUndefined();
    expect(requestPrivateRangesFromEnv(' , ')).toBeUndefined();
  });
});
