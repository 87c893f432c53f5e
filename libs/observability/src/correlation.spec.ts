import type { NextFunction, Request, Response } from 'express';
import { correlationMiddleware, currentCorrelationId, isValidCorrelationId, runWithCorrelationId } from './correlation';

function run(header: unknown): { id: string | undefined; echoed: string | undefined } {
  const headers: Record<string, string> = {};
  const req = { headers: header === undefined ? {} : { 'x-correlation-id': header } } as unknown as Request;
  const res = { setHeader: (k: string, v: string) => (headers[k] = v) } as unknown as Response;
  let id: string | undefined;
  correlationMiddleware(req, res, (() => (id = currentCorrelationId())) as NextFunction);
  return { id, echoed: headers['x-correlation-id'] };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('correlation', () => {
  it('takes a valid incoming id, scopes the request to it and echoes it', () => {
    expect(run('req-1:a.b_c-d')).toEqual({ id: 'req-1:a.b_c-d', echoed: 'req-1:a.b_c-d' });
  });

  it.each([[undefined], [''], ['has space'], ['x'.repeat(129)], ['<script>'], [['a', 'b']]])(
    'replaces %p with a fresh uuid',
    (bad) => {
      const { id, echoed } = run(bad);
      expect(id).toMatch(UUID);
      expect(echoed).toBe(id);
    },
  );

  it('accepts exactly 128 characters', () => {
    expect(isValidCorrelationId('a'.repeat(128))).toBe(true);
    expect(isValidCorrelationId('a'.repeat(129))).toBe(false);
  });

  it('propagates across awaits, timers and nested scopes, and does not leak out', async () => {
    expect(currentCorrelationId()).toBeUndefined();
    const seen: Array<string | undefined> = [];
    await runWithCorrelationId('outer', async () => {
      seen.push(currentCorrelationId());
      await new Promise((r) => setTimeout(r, 1));
      seen.push(currentCorrelationId());
      await runWithCorrelationId('inner', async () => seen.push(currentCorrelationId()));
      seen.push(currentCorrelationId());
    });
    expect(seen).toEqual(['outer', 'outer', 'inner', 'outer']);
    expect(currentCorrelationId()).toBeUndefined();
  });

  it('keeps concurrent scopes apart', async () => {
    const ids = await Promise.all(
      ['a', 'b', 'c'].map((id) =>
        runWithCorrelationId(id, async () => {
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          return currentCorrelationId();
        }),
      ),
    );
    expect(ids).toEqual(['a', 'b', 'c']);
  });

  it('runWithCorrelationId makes an id when given none or an invalid one', () => {
    expect(runWithCorrelationId(undefined, currentCorrelationId)).toMatch(UUID);
    expect(runWithCorrelationId('bad id', currentCorrelationId)).toMatch(UUID);
  });
});
