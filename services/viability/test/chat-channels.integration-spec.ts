import type { INestApplication } from '@nestjs/common';
import { createEvent } from '@elo/contracts';
import { BusConnection, BusProbe } from '@elo/messaging';
import { buildServiceApp, loadConfig } from '@elo/platform';
import { createTestInfra, expectEventually, outboxEmpty, type TestInfra } from '@elo/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AppModule, SERVICE } from '../src/app.module';
import { ViabilityConfig } from '../src/config/viability.config';

const ADMIN = 'c'.repeat(40);
const HOME = { lat: -25.4284, lng: -49.2733 };

describe('viability: chat location checks switched per channel', () => {
  let infra: TestInfra;
  let app: INestApplication;
  let url: string;
  let probe: BusProbe;
  let ds: DataSource;

  beforeAll(async () => {
    infra = await createTestInfra('viability-channels');
    const config = loadConfig(ViabilityConfig, {
      DATABASE_URL: infra.databaseUrl, AMQP_URL: infra.amqpUrl, PORT: '0', ELO_ADMIN_KEY: ADMIN,
      ELO_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 2).toString('base64')}`, ELO_ENCRYPTION_ACTIVE_KEY: 'k1', LOG_LEVEL: 'warn',
      UPSTREAM_SYNC_TICK_MS: '0',
    });
    app = await buildServiceApp(AppModule.register(config), { service: SERVICE, title: 'viability', config });
    await app.listen(0, '127.0.0.1');
    await app.get(BusConnection).waitReady(15_000);
    url = await app.getUrl();
    ds = app.get(DataSource);
    probe = await BusProbe.connect(infra.amqpUrl, ['chat.message.send.requested', 'viability.checked']);
  });

  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await infra?.cleanup();
  });

  const call = async <T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': type } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  it('a channel switched on is answered while the tenant default is off, and the reverse; null follows the default again', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:manage'] })).body;
    await call('POST', '/inventory/import?kind=boxes', key, `external_id,name,lat,lng,status,port_capacity,ports_in_use\nCTO-C,CTO Canal,${HOME.lat + 0.0003},${HOME.lng},deployed,8,0`, 'text/csv');
    const [a, b] = [randomUUID(), randomUUID()];

    /** Sends a location message on a channel; resolves whether a reply was asked for (after the event was handled). */
    const answered = async (channelId: string): Promise<boolean> => {
      const conversationId = randomUUID();
      const event = createEvent({
        type: 'chat.message.received', tenantId: t.id, source: 'elo://test',
        data: {
          channelId, provider: 'whatsapp', conversationId, providerMessageId: `wamid.${randomUUID()}`, contact: { phone: '+5541988445566' },
          message: { kind: 'location', location: HOME }, providerTimestamp: new Date().toISOString(),
        },
      });
      await probe.publish(event);
      await expectEventually(async () => expect(await ds.query('SELECT 1 FROM viability.inbox WHERE event_id = $1', [event.id])).toHaveLength(1));
      // A reply is written in the transaction of the inbox row: once the bus has settled, it has reached the probe, or there is none.
      await probe.settled(outboxEmpty(ds, 'viability'));
      return probe.ofType<{ conversationId: string }>('chat.message.send.requested').some((e) => e.data.conversationId === conversationId);
    };

    const put = await call<{ chatLocationChecks: boolean; chatLocationChannels: Record<string, boolean> }>('PUT', '/settings', key, { chatLocationChannels: { [a]: true } });
    expect(put.body).toMatchObject({ chatLocationChecks: false, chatLocationChannels: { [a]: true } });
    expect(await answered(a)).toBe(true);
    expect(await answered(b)).toBe(false);

    await call('PUT', '/settings', key, { chatLocationChecks: true, chatLocationChannels: { [b]: false } });
    expect(await answered(a)).toBe(true);
    expect(await answered(b)).toBe(false);

    const cleared = await call<{ chatLocationChannels: Record<string, boolean> }>('PUT', '/settings', key, { chatLocationChannels: { [b]: null } });
    expect(cleared.body.chatLocationChannels).toEqual({ [a]: true });
    expect(await answered(b)).toBe(true);

    expect((await call('PUT', '/settings', key, { chatLocationChannels: { 'not-a-uuid': true } })).status).toBe(400);
    expect((await call('PUT', '/settings', key, { chatLocationChannels: { [a]: 'yes' } })).status).toBe(400);
    expect((await call('PUT', '/settings', key, { chatLocationChannels: [a] })).status).toBe(400);
  });

  it('each outcome is answered in the chat with its Portuguese default, the box and its distance filled in, on the channel it came from', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp-defaults' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:manage'] })).body;
    // An eligible box about 33 m north of HOME; 2 km north, only a full one; 5 km south, nothing.
    const fullArea = { lat: HOME.lat + 0.02, lng: HOME.lng };
    const nowhere = { lat: HOME.lat - 0.05, lng: HOME.lng };
    expect((await call('POST', '/inventory/import?kind=boxes', key, [
      'external_id,name,lat,lng,status,port_capacity,ports_in_use',
      `CTO-OK,CTO Praça,${HOME.lat + 0.0003},${HOME.lng},deployed,8,0`,
      `CTO-CHEIA,CTO Cheia,${fullArea.lat + 0.0003},${fullArea.lng},deployed,8,8`,
    ].join('\n'), 'text/csv')).body).toMatchObject({ inserted: 2 });
    expect((await call('PUT', '/settings', key, { chatLocationChecks: true })).status).toBe(200);
    const channelId = randomUUID();
    const ask = async (at: { lat: number; lng: number }) => {
      const conversationId = randomUUID();
      await probe.publish(createEvent({
        type: 'chat.message.received', tenantId: t.id, source: 'elo://test',
        data: {
          channelId, provider: 'whatsapp', conversationId, providerMessageId: `wamid.${randomUUID()}`, contact: { phone: '+5541988445566' },
          message: { kind: 'location', location: at }, providerTimestamp: new Date().toISOString(),
        },
      }));
      return conversationId;
    };
    const [viable, notViable, notFound] = [await ask(HOME), await ask(fullArea), await ask(nowhere)];
    const replyTo = (conversationId: string) => expectEventually(() => {
      const r = probe.ofType<{ conversationId: string; channelId: string; message: { kind: string; text: string } }>('chat.message.send.requested').filter((e) => e.data.conversationId === conversationId);
      expect(r).toHaveLength(1);
      expect(r[0]!.data).toMatchObject({ channelId, message: { kind: 'text' } });
      return r[0]!.data.message.text;
    });
    const checked = (conversationId: string) => expectEventually(() => {
      const e = probe.ofType<{ conversationId: string; via: string; status: string; box?: { distanceMeters: number } }>('viability.checked').find((x) => x.data.conversationId === conversationId);
      expect(e?.data.via).toBe('chat_location');
      return e!.data;
    });
    const viableCheck = await checked(viable);
    expect(viableCheck.status).toBe('viable');
    const metres = Math.round(viableCheck.box!.distanceMeters);
    expect(metres).toBeGreaterThanOrEqual(32);
    expect(metres).toBeLessThanOrEqual(35);
    expect(await replyTo(viable)).toBe(`Boa notícia! Temos cobertura no seu endereço (caixa CTO Praça, a ${metres} m). Vamos seguir com a contratação?`);
    expect((await checked(notViable)).status).toBe('not_viable');
    expect(await replyTo(notViable)).toBe('Há rede perto de você, mas no momento não temos porta disponível. Podemos avisar quando liberar?');
    expect((await checked(notFound)).status).toBe('not_found');
    expect(await replyTo(notFound)).toBe('Ainda não temos cobertura nesse local.');
  });

  it('settings changed at the same time by several callers keep every channel switch (none overwrites another)', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp-concurrent' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:manage'] })).body;
    const channels = Array.from({ length: 12 }, () => randomUUID());
    // Twice: once before the tenant has a settings row, once when it has one.
    for (const round of [0, 1]) {
      const puts = await Promise.all(channels.map((c) => call('PUT', '/settings', key, { chatLocationChannels: { [c]: round === 0 } })));
      expect(puts.map((r) => r.status)).toEqual(channels.map(() => 200));
      const got = await call<{ chatLocationChannels: Record<string, boolean> }>('GET', '/settings', key);
      expect(got.body.chatLocationChannels).toEqual(Object.fromEntries(channels.map((c) => [c, round === 0])));
    }
  });

  it('a reply template changed alone keeps the other outcomes\' templates', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp-replies' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:manage'] })).body;
    expect((await call('PUT', '/settings', key, { replies: { not_found: 'Sem cobertura aqui.', not_viable: 'Sem porta livre.' } })).status).toBe(200);
    const put = await call<{ replies: Record<string, string> }>('PUT', '/settings', key, { replies: { viable: 'Atendemos pela {box}.' } });
    expect(put.status).toBe(200);
    const replies = { viable: 'Atendemos pela {box}.', not_viable: 'Sem porta livre.', not_found: 'Sem cobertura aqui.' };
    expect(put.body.replies).toEqual(replies);
    expect((await call<{ replies: Record<string, string> }>('GET', '/settings', key)).body.replies).toEqual(replies);
    // null takes an outcome back to its Portuguese default and leaves the others alone.
    expect((await call('PUT', '/settings', key, { replies: { not_viable: null } })).status).toBe(200);
    expect((await call<{ replies: Record<string, string> }>('GET', '/settings', key)).body.replies).toEqual({ viable: 'Atendemos pela {box}.', not_found: 'Sem cobertura aqui.' });
  });

  it('a reply template naming a placeholder other than {box} and {distance} is a 400 naming it, and nothing is stored', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp-placeholders' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:manage'] })).body;
    const bad = await call<{ status: number; detail: string; errors: Array<{ field: string; message: string }> }>('PUT', '/settings', key, {
      maxDropMeters: 90, replies: { viable: 'Atendemos você pela {caixa}, a {distancia} m!' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/\{caixa\}/);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'replies.viable' })]);
    expect((await call<{ maxDropMeters: number; replies: object }>('GET', '/settings', key)).body).toMatchObject({ maxDropMeters: 150, replies: {} });
    // The two it fills in, and braces that name nothing, are fine.
    expect((await call('PUT', '/settings', key, { replies: { viable: 'Caixa {box} a {distance} m {}', not_found: 'Sem cobertura :-{' } })).status).toBe(200);
  });

  it('a location the bot flow waits for (flowAwaitsLocation) is left to the flow, a live location moving (edited) to its first share and a standby one (another app owns the thread) to a person: no check, no reply; an unflagged one after them is answered', async () => {
    const t = (await call<{ id: string }>('POST', '/tenants', ADMIN, { name: 'isp-flow' })).body;
    const { key } = (await call<{ key: string }>('POST', `/tenants/${t.id}/keys`, ADMIN, { name: 'k', permissions: ['viability:manage'] })).body;
    await call('POST', '/inventory/import?kind=boxes', key, `external_id,name,lat,lng,status,port_capacity,ports_in_use\nCTO-F,CTO Fluxo,${HOME.lat + 0.0003},${HOME.lng},deployed,8,0`, 'text/csv');
    const channelId = randomUUID();
    expect((await call('PUT', '/settings', key, { chatLocationChecks: true })).status).toBe(200);
    const flaggedAt = { lat: HOME.lat + 0.0001, lng: HOME.lng };
    const movedTo = { lat: HOME.lat + 0.0002, lng: HOME.lng };
    const standbyAt = { lat: HOME.lat + 0.0004, lng: HOME.lng };
    const location = (conversationId: string, at: { lat: number; lng: number }, flowAwaitsLocation?: boolean, flag?: { edited?: true; standby?: true }) => createEvent({
      type: 'chat.message.received', tenantId: t.id, source: 'elo://test',
      data: {
        channelId, provider: 'whatsapp', conversationId, providerMessageId: `wamid.${randomUUID()}`, contact: { phone: '+5541988447788' },
        message: { kind: 'location', location: at, ...flag }, providerTimestamp: new Date().toISOString(), ...(flowAwaitsLocation === undefined ? {} : { flowAwaitsLocation }),
      },
    });
    const [flaggedConv, movedConv, standbyConv, controlConv] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const flagged = location(flaggedConv, flaggedAt, true);
    const moved = location(movedConv, movedTo, undefined, { edited: true });
    const standby = location(standbyConv, standbyAt, undefined, { standby: true });
    const control = location(controlConv, HOME);
    await probe.publish(flagged);
    await probe.publish(moved);
    await probe.publish(standby);
    await probe.publish(control);
    // All handled (the inbox row commits with any reply and check), the control answered over the bus.
    await expectEventually(async () => expect(await ds.query('SELECT 1 FROM viability.inbox WHERE event_id = ANY($1::text[])', [[flagged.id, moved.id, standby.id, control.id]])).toHaveLength(4));
    await expectEventually(() => expect(probe.ofType<{ conversationId: string }>('chat.message.send.requested').some((e) => e.data.conversationId === controlConv)).toBe(true));
    expect(await ds.query('SELECT 1 FROM viability.checks WHERE tenant_id = $1 AND lat = $2 AND lng = $3', [t.id, HOME.lat, HOME.lng])).toHaveLength(1);
    // Whatever either handler published has reached the probe now: the control's check and reply, and
    // about the flagged and the moved ones' conversations nothing (no check recorded, no viability.checked, no reply).
    await probe.settled(outboxEmpty(ds, 'viability'));
    const about = (conversationId: string) => probe.events.filter((e) => e.subject === conversationId).map((e) => e.type).sort();
    expect(about(controlConv)).toEqual(['chat.message.send.requested', 'viability.checked']);
    expect(await ds.query('SELECT 1 FROM viability.checks WHERE tenant_id = $1 AND lat = $2', [t.id, flaggedAt.lat])).toHaveLength(0);
    expect(about(flaggedConv)).toEqual([]);
    expect(await ds.query('SELECT 1 FROM viability.checks WHERE tenant_id = $1 AND lat = $2', [t.id, movedTo.lat])).toHaveLength(0);
    expect(about(movedConv)).toEqual([]);
    expect(await ds.query('SELECT 1 FROM viability.checks WHERE tenant_id = $1 AND lat = $2', [t.id, standbyAt.lat])).toHaveLength(0);
    expect(about(standbyConv)).toEqual([]);
  });
});
