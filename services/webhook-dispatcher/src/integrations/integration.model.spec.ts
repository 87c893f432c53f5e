import { matchesTrigger } from './integration.model';

describe('matchesTrigger', () => {
  const trigger = (field: string, op: 'equals' | 'contains', value: string) => ({ eventTypes: ['chat.message.received'], filter: [{ field, op, value }] });
  const data = { message: { kind: 'text', text: 'Quero meu BOLETO' }, contact: { name: 'Ana' } };

  it('matches equals exactly and contains case-insensitively on a dotted field of data', () => {
    expect(matchesTrigger(trigger('message.text', 'contains', 'boleto'), 'chat.message.received', data)).toBe(true);
    expect(matchesTrigger(trigger('message.text', 'equals', 'quero meu boleto'), 'chat.message.received', data)).toBe(false);
    expect(matchesTrigger(trigger('contact.name', 'equals', 'Ana'), 'chat.message.received', data)).toBe(true);
    expect(matchesTrigger(trigger('contact.name', 'equals', 'Ana'), 'chat.message.sent', data)).toBe(false);
  });

  it('needs every filter to match: one that does not holds the event back', () => {
    const both = (text: string, name: string) => ({ eventTypes: ['chat.message.received'], filter: [
      { field: 'message.text', op: 'contains' as const, value: text }, { field: 'contact.name', op: 'equals' as const, value: name },
    ] });
    expect(matchesTrigger(both('boleto', 'Ana'), 'chat.message.received', data)).toBe(true);
    expect(matchesTrigger(both('boleto', 'Bia'), 'chat.message.received', data)).toBe(false);
    expect(matchesTrigger(both('fatura', 'Ana'), 'chat.message.received', data)).toBe(false);
    // No filter: every event of the types matches; a type among several matches.
    expect(matchesTrigger({ eventTypes: ['telephony.call.ended', 'chat.message.received'] }, 'chat.message.received', data)).toBe(true);
  });

  it('names a field as its token does: under the entity the type names too (call.ramal is ramal), unless the data has a field of that name', () => {
    const call = { eventTypes: ['telephony.call.ended'], filter: [{ field: 'call.ramal', op: 'equals' as const, value: '2001' }] };
    expect(matchesTrigger(call, 'telephony.call.ended', { ramal: '2001' })).toBe(true);
    expect(matchesTrigger(call, 'telephony.call.ended', { ramal: '2002' })).toBe(false);
    expect(matchesTrigger(call, 'telephony.call.ended', { ramal: '2002', call: { ramal: '2001' } })).toBe(true);
    expect(matchesTrigger(call, 'telephony.call.ended', { ramal: '2001', call: { id: 'x' } })).toBe(false);
  });

  it('reads only fields the event data has: a name of an object\'s prototype (constructor, toString) is a missing field, not a crash of the consumer', () => {
    for (const field of ['constructor', 'message.toString', 'contact.hasOwnProperty', '__proto__', 'message.__proto__.constructor']) {
      expect(matchesTrigger(trigger(field, 'contains', 'function'), 'chat.message.received', data)).toBe(false);
      expect(matchesTrigger(trigger(field, 'equals', '{}'), 'chat.message.received', data)).toBe(false);
    }
  });
});
