import { createEvent, envelopeProblems } from './envelope';
import { EVENT_CATALOGUE } from './events/catalogue';
import { InvalidEventError, NewerEventVersionError, validateEvent } from './validate';
import type { CatalogueEntry } from './events/catalogue';

const step = {
  conversationId: '00000000-0000-4000-8000-000000000001', channelId: '00000000-0000-4000-8000-000000000002',
  flowId: '00000000-0000-4000-8000-000000000003', stepId: 'menu', stepType: 'menu', outcome: 'asked',
};

describe('CloudEvents envelope', () => {
  it('createEvent builds a structured CloudEvents 1.0 event with the tenant and correlation extensions, which validates', () => {
    const e = createEvent({ type: 'chat.flow.step', tenantId: 'tenant-a', source: 'elo://chat-ingress', subject: 'conv-1', correlationId: 'corr-1', data: step });
    expect(e).toEqual({
      specversion: '1.0', id: expect.stringMatching(/^[0-9a-f-]{36}$/), source: 'elo://chat-ingress', type: 'chat.flow.step',
      time: expect.any(String), datacontenttype: 'application/json', dataschema: 'urn:elo:chat.flow.step:v1',
      subject: 'conv-1', tenantid: 'tenant-a', correlationid: 'corr-1', data: step,
    });
    expect(new Date(e.time).toISOString()).toBe(e.time);
    expect(envelopeProblems(JSON.parse(JSON.stringify(e)))).toEqual([]);
    expect(validateEvent(JSON.parse(JSON.stringify(e))).data).toMatchObject(step);
  });

  it('refuses an envelope without specversion 1.0, a required attribute, a readable time, or with a name CloudEvents does not allow', () => {
    const e = JSON.parse(JSON.stringify(createEvent({ type: 'chat.flow.step', tenantId: 't', source: 'elo://x', data: step }))) as Record<string, unknown>;
    expect(envelopeProblems({ ...e, specversion: '0.3' })).toEqual(['specversion must be "1.0"']);
    expect(envelopeProblems({ ...e, tenantid: undefined })).toEqual(['tenantid must be a non-empty string']);
    expect(envelopeProblems({ ...e, time: 'yesterday' })).toEqual(['time must be an RFC 3339 timestamp']);
    expect(envelopeProblems({ ...e, tenantId: 't' })).toEqual(['attribute name tenantId is not valid']);
    for (const dataschema of ['urn:elo:chat.message.sent:v1', 'urn:elo:chat.flow.step:v0', 'urn:elo:chat.flow.step:vx', 'urn:elo:chat.flow.step:v1.1', 'chat.flow.step']) {
      expect(() => validateEvent({ ...e, dataschema })).toThrow(InvalidEventError);
    }
  });

  it('takes an event of a version newer than the catalogue knows for a later release\'s, not for an invalid one', () => {
    const e = createEvent({ type: 'chat.flow.step', tenantId: 't', source: 'elo://x', data: step });
    const newer = (() => {
      try {
        validateEvent({ ...e, dataschema: 'urn:elo:chat.flow.step:v9' });
      } catch (err) {
        return err;
      }
    })();
    expect(newer).toBeInstanceOf(NewerEventVersionError);
    expect(newer).not.toBeInstanceOf(InvalidEventError);
    expect(newer).toMatchObject({ eventType: 'chat.flow.step', eventId: e.id, version: 9, known: 1 });
  });

  it("stamps a type's current catalogue version, so a version raised in the catalogue is what producers send and consumers take", () => {
    const entry = EVENT_CATALOGUE['chat.flow.step'] as { version: number };
    const shipped = entry.version;
    const old = createEvent({ type: 'chat.flow.step', tenantId: 't', source: 'elo://x', data: step });
    entry.version = shipped + 1;
    try {
      const e = createEvent({ type: 'chat.flow.step', tenantId: 't', source: 'elo://x', data: step });
      expect(e.dataschema).toBe(`urn:elo:chat.flow.step:v${shipped + 1}`);
      expect(() => validateEvent(JSON.parse(JSON.stringify(e)))).not.toThrow();
      // Raised without an upgrade from the version before: what is still in flight of the old one is unreadable.
      expect(() => validateEvent(JSON.parse(JSON.stringify(old)))).toThrow(/no upgrade from v1/);
    } finally {
      entry.version = shipped;
    }
  });

  it('reads events of older versions still in flight through the catalogue\'s upgrades, in order, as the current version', () => {
    const entry = EVENT_CATALOGUE['chat.flow.step'] as CatalogueEntry;
    const shipped = entry.version;
    // Say v1 called the step's type `kind` (v2 renamed it `stepType`), and v2's outcome was upper case (v3 lower-cases it).
    const { stepType, ...rest } = step;
    const v1 = JSON.parse(JSON.stringify(createEvent({ type: 'chat.flow.step', tenantId: 't', source: 'elo://x', data: { ...rest, kind: stepType, outcome: 'ASKED' } })));
    const v2 = JSON.parse(JSON.stringify(createEvent({ type: 'chat.flow.step', tenantId: 't', source: 'elo://x', version: 2, data: { ...step, outcome: 'ASKED' } })));
    // Without the upgrades, v1's data is not a flow step.
    expect(() => validateEvent(v1)).toThrow(/data\.stepType/);
    entry.version = 3;
    entry.upgrades = {
      1: ({ kind, ...d }: Record<string, unknown>) => ({ ...d, stepType: kind }),
      2: (d: { outcome: string }) => {
        if (typeof d.outcome !== 'string') throw new Error('outcome is not a string');
        return { ...d, outcome: d.outcome.toLowerCase() };
      },
    };
    try {
      for (const old of [v1, v2]) {
        const read = validateEvent(old);
        expect(read.dataschema).toBe('urn:elo:chat.flow.step:v3');
        expect({ ...read.data }).toEqual(step);
        expect(read.id).toBe(old.id);
      }
      // An upgrade that cannot read the old data makes the event invalid (parked), saying which step failed.
      expect(() => validateEvent({ ...v2, data: { ...step, outcome: 7 } })).toThrow(/chat.flow.step v2 data could not be upgraded: outcome is not a string/);
      // An upgraded payload is validated like any other.
      expect(() => validateEvent({ ...v1, data: { ...rest, kind: stepType, conversationId: 'nope', outcome: 'ASKED' } })).toThrow(/data\.conversationId/);
    } finally {
      entry.version = shipped;
      delete (entry as { upgrades?: unknown }).upgrades;
    }
  });
});
