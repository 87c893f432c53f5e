import { createEvent, envelopeProblems } from './envelope';
import { EVENT_CATALOGUE } from './events/catalogue';
import { InvalidEventError, validateEvent } from './validate';

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
    expect(() => validateEvent({ ...e, dataschema: 'urn:elo:chat.flow.step:v9' })).toThrow(InvalidEventError);
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
      expect(() => validateEvent(JSON.parse(JSON.stringify(old)))).toThrow(/dataschema/);
    } finally {
      entry.version = shipped;
    }
  });
});
