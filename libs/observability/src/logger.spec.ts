import { Writable } from 'node:stream';
import { createLogger, PinoNestLogger } from './logger';
import { runWithCorrelationId } from './correlation';
import { redactString, redactValue } from './redaction';

function memoryLogger(level = 'trace') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger('svc-test', { level, destination });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const SECRETS = [
  'Bearer-abc-0001', 'sess=cookie-0002', 'sha256=sig-0003', 'tg-secret-0004', 'v1,whsig-0005', 'hunter2-0006',
  'plain-secret-0007', 'tok-0008', 'at-0009', 'at-0010', 'app-secret-0011', 'apikey-0012', 'apikey-0013',
  'xapikey-0014', 'rt-0015', 'cs-0016', 'chave-0017', 'pk-0018', 'signing-0019',
];

describe('createLogger redaction', () => {
  it('masks every listed secret key, in any case, nested and in headers', () => {
    const { logger, lines, parsed } = memoryLogger();
    logger.info(
      {
        req: {
          headers: {
            Authorization: SECRETS[0], COOKIE: SECRETS[1], 'X-Hub-Signature-256': SECRETS[2],
            'x-telegram-bot-api-secret-token': SECRETS[3], 'Webhook-Signature': SECRETS[4], 'x-api-key': SECRETS[13],
          },
        },
        user: { profile: { Password: SECRETS[5] } },
        config: { deep: { deeper: { deepest: { secret: SECRETS[6], token: SECRETS[7] } } } },
        accessToken: SECRETS[8],
        ACCESS_TOKEN: SECRETS[9],
        list: [{ appSecret: SECRETS[10] }, { apiKey: SECRETS[11], api_key: SECRETS[12] }],
        refreshToken: SECRETS[14],
        clientSecret: SECRETS[15],
        Chave: SECRETS[16],
        privateKey: SECRETS[17],
        signingSecret: SECRETS[18],
        harmless: 'visible-value',
      },
      'hello',
    );
    const out = lines.join('\n');
    for (const s of SECRETS) expect(out).not.toContain(s);
    const line = parsed()[0]!;
    expect(line.service).toBe('svc-test');
    expect(line.harmless).toBe('visible-value');
    expect((line.req as { headers: Record<string, string> }).headers.Authorization).toBe('[redacted]');
    expect((line.user as { profile: Record<string, string> }).profile.Password).toBe('[redacted]');
  });

  it('masks compound secret names (pageAccessToken, webhook_secret) and leaves ordinary fields', () => {
    const { logger, lines, parsed } = memoryLogger();
    logger.info({ channel: { pageAccessToken: 'EAAG-1234', webhook_secret: 'wh-5678', tokenCount: 3, keyId: 'k1' } });
    expect(lines.join()).not.toMatch(/EAAG-1234|wh-5678/);
    const ch = parsed()[0]!.channel as Record<string, unknown>;
    expect(ch.tokenCount).toBe(3);
    expect(ch.keyId).toBe('k1');
  });

  it('masks secrets inside messages, interpolation, child bindings and errors', () => {
    const { logger, lines, parsed } = memoryLogger();
    const key = 'elo_AbCd1234_' + 'x'.repeat(32);
    logger.info(`calling https://api.example.com/x?access_token=EAAsecret1&page=2 with Bearer abc.def.ghi`);
    logger.info('sent %s', 'Authorization: Bearer zzzsecretzzz');
    logger.child({ token: 'child-token-1' }).child({ nested: { password: 'child-token-1' } }).warn('child');
    const err = Object.assign(new Error(`connect failed postgres://elo:dbpass99@db:5432/elo key ${key}`), {
      config: { headers: { authorization: 'Bearer nested-err-secret' } },
    });
    logger.error({ err }, 'boom');
    logger.error(new Error('sk_live_abcdefghijkl leaked'));
    const out = lines.join('\n');
    for (const s of ['EAAsecret1', 'abc.def.ghi', 'zzzsecretzzz', 'child-token-1', 'dbpass99', 'x'.repeat(32), 'nested-err-secret', 'abcdefghijkl']) {
      expect(out).not.toContain(s);
    }
    const [first, , , errLine] = parsed();
    expect(first!.msg).toContain('page=2');
    const e = errLine!.err as Record<string, unknown>;
    expect(e.type).toBe('Error');
    expect(e.message).toContain('elo_AbCd1234_[redacted]');
    expect(String(e.stack)).toContain('at ');
  });

  it('does not mutate the logged object and survives cycles', () => {
    const { logger, parsed } = memoryLogger();
    const obj: Record<string, unknown> = { password: 'p', nested: { token: 't' } };
    obj.self = obj;
    logger.info(obj);
    expect(obj.password).toBe('p');
    expect((obj.nested as Record<string, unknown>).token).toBe('t');
    const line = parsed()[0]!;
    expect(line.password).toBe('[redacted]');
    expect((line.self as Record<string, unknown>).self).toBe('[circular]');
  });

  it('carries the correlation id of the current scope on every line', async () => {
    const { logger, parsed } = memoryLogger();
    logger.info('outside');
    await runWithCorrelationId('corr-123', async () => {
      await new Promise((r) => setImmediate(r));
      logger.info('inside');
    });
    const [outside, inside] = parsed();
    expect(outside!.correlationId).toBeUndefined();
    expect(inside!.correlationId).toBe('corr-123');
  });
});

describe('redactString', () => {
  it.each([
    ['Authorization: Bearer eyJhbGciOi.payload.sig', 'Bearer [redacted]'],
    ['key elo_Ab12Cd34_abcdefghijABCDEFGHIJ0123456789ab here', 'elo_Ab12Cd34_[redacted]'],
    ['stripe sk_test_51Habcdefghijklmnop', 'sk_[redacted]'],
    ['https://graph.facebook.com/v19.0/me?fields=id&access_token=EAAB123&x=1', 'access_token=[redacted]&x=1'],
    ['https://h/cb?hub.verify_token=abc123&hub.challenge=9', 'hub.verify_token=[redacted]&hub.challenge=9'],
    ['amqp://guest:guestpass@rabbit:5672', 'amqp://guest:[redacted]@rabbit'],
    ['{"user":"a","password":"p@ss\\"w"}', '"password":"[redacted]"'],
  ])('%s', (input, expected) => {
    const out = redactString(input);
    expect(out).toContain(expected);
  });

  it('leaves ordinary text alone', () => {
    const s = 'task_12345678 design=blue author=me https://example.com/a?page=2';
    expect(redactString(s)).toBe(s);
  });

  it('takes time linear in the text: 200 KB of scheme-like characters (a template, a response body) is masked at once', () => {
    // Every word boundary of `a.a.a.…` began a URL scheme that ran to the end of the text: quadratic, so
    // 200 KB held the event loop (of a service auditing or logging it) for many seconds (15 s measured).
    // Linear, it takes milliseconds; the bound leaves room for a loaded CI machine and still fails the
    // quadratic version by a wide margin.
    const text = `${'a.'.repeat(100_000)} amqp://guest:guestpass@rabbit`;
    const started = Date.now();
    const out = redactString(text);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(out).toContain('amqp://guest:[redacted]@rabbit');
  });
});

describe('redactValue', () => {
  it('keeps Error prototypes and masks Map entries', () => {
    class MyErr extends Error {}
    const e = new MyErr('token=abc');
    const out = redactValue({ e, m: new Map<string, unknown>([['secret', 's'], ['ok', 1]]) }) as { e: Error; m: Record<string, unknown> };
    expect(out.e).toBeInstanceOf(MyErr);
    expect(out.e.message).toBe('token=abc'); // no URL separator: not a query parameter
    expect(out.m).toEqual({ secret: '[redacted]', ok: 1 });
  });
});

describe('PinoNestLogger', () => {
  it('maps Nest calls (message, context) and (message, stack, context) to pino levels', () => {
    const { logger, parsed } = memoryLogger();
    const nest = new PinoNestLogger(logger);
    nest.log('Mapped {/x, GET}', 'RouterExplorer');
    nest.error('failed', 'Error: x\n    at foo (a.ts:1:1)', 'ExceptionsHandler');
    nest.warn({ msg: 'object message', token: 'tkn-secret' }, 'Ctx');
    nest.verbose('v');
    const [a, b, c, d] = parsed();
    expect(a).toMatchObject({ level: 'info', msg: 'Mapped {/x, GET}', context: 'RouterExplorer' });
    expect(b).toMatchObject({ level: 'error', msg: 'failed', context: 'ExceptionsHandler' });
    expect(String(b!.stack)).toContain('at foo');
    expect(c).toMatchObject({ level: 'warn', context: 'Ctx', token: '[redacted]' });
    expect(d).toMatchObject({ level: 'trace', msg: 'v' });
  });
});
