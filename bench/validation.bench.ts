// CPU per event of event validation, class-validator alone (the path before the compiled checker) against
// validateEvent / payloadProblems as they are, on a mix of the bus's event types. No I/O.
// Rounds alternate the two paths; medians of µs per event and their ratio are printed (the machine is shared),
// with the garbage collections the round ran (count, ms) and the load average.
//   node -r @swc-node/register bench/validation.bench.ts [events per round=50000] [rounds=7]
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import {
  createEvent,
  envelopeProblems,
  EVENT_CATALOGUE,
  flattenValidationErrors,
  isEventType,
  payloadProblems,
  validateEvent,
  type CloudEvent,
} from '@elo/contracts';

const N = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 7);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out = (s: string) => process.stdout.write(`${s}\n`);

// --- The path before: plainToInstance + validateSync on every event (copied from validate.ts as it was).
function classValidatorEvent(raw: unknown): CloudEvent<object> {
  const problems = envelopeProblems(raw);
  if (problems.length) throw new Error(problems.join('; '));
  const event = raw as CloudEvent<unknown>;
  if (!isEventType(event.type)) throw new Error(`unknown event type ${event.type}`);
  const entry = EVENT_CATALOGUE[event.type];
  if (event.dataschema !== `urn:elo:${event.type}:v${entry.version}`) throw new Error('dataschema');
  const payload = plainToInstance(entry.payload as new () => object, event.data) as object;
  const errors = validateSync(payload, { whitelist: false, forbidUnknownValues: true });
  if (errors.length) throw new Error(flattenValidationErrors(errors, 'data').join('; '));
  return { ...event, data: payload };
}
function classValidatorProblems(type: string, data: unknown): string[] {
  if (!isEventType(type)) return [`unknown event type ${type}`];
  const payload = plainToInstance(EVENT_CATALOGUE[type].payload as new () => object, data) as object;
  return flattenValidationErrors(validateSync(payload, { forbidUnknownValues: true }), 'data');
}

// --- A mix shaped like the bus's traffic: statuses dominate, then messages in and out, then the rest.
const tenant = 'tenant-bench';
const channelId = randomUUID();
const now = () => new Date().toISOString();
const contact = () => ({
  phone: '+5511999990000',
  providerUserId: '5511999990000',
  name: 'Maria',
  attributes: { cpf: '12345678900' },
});
const makers: Array<[number, string, () => object]> = [
  [
    40,
    'chat.message.status',
    () => ({
      channelId,
      provider: 'whatsapp',
      providerMessageId: `wamid.${randomUUID()}`,
      status: 'delivered',
      providerTimestamp: now(),
    }),
  ],
  [
    15,
    'message.status.changed',
    () => ({
      messageId: randomUUID(),
      channelId,
      provider: 'whatsapp',
      previousStatus: 'sent',
      status: 'delivered',
      at: now(),
    }),
  ],
  [
    15,
    'chat.message.received',
    () => ({
      channelId,
      provider: 'whatsapp',
      conversationId: randomUUID(),
      providerMessageId: `wamid.${randomUUID()}`,
      contact: contact(),
      message: { kind: 'text', text: 'Olá, quero saber se tem fibra na minha rua' },
      providerTimestamp: now(),
    }),
  ],
  [
    10,
    'chat.message.send.requested',
    () => ({
      messageId: randomUUID(),
      conversationId: randomUUID(),
      origin: 'bot',
      message: {
        kind: 'text',
        text: 'Escolha uma opção',
        buttons: [
          { id: '1', title: 'Planos' },
          { id: '2', title: 'Suporte' },
        ],
      },
    }),
  ],
  [
    10,
    'chat.message.sent',
    () => ({
      messageId: randomUUID(),
      channelId,
      provider: 'whatsapp',
      conversationId: randomUUID(),
      providerMessageId: `wamid.${randomUUID()}`,
      sentAt: now(),
    }),
  ],
  [4, 'chat.conversation.closed', () => ({ conversationId: randomUUID(), channelId, reason: 'resolved' })],
  [
    3,
    'chat.flow.step',
    () => ({
      conversationId: randomUUID(),
      channelId,
      flowId: randomUUID(),
      stepId: 'menu',
      stepType: 'menu',
      outcome: 'answered',
      nextStepId: 'plans',
    }),
  ],
  [
    3,
    'viability.checked',
    () => ({
      requestId: randomUUID(),
      conversationId: randomUUID(),
      status: 'viable',
      via: 'coordinates',
      location: { lat: -23.55052, lng: -46.633308 },
      box: { id: randomUUID(), name: 'CTO-12', distanceMeters: 84.2, freePorts: 3 },
    }),
  ],
];

function mix(n: number): CloudEvent[] {
  const total = makers.reduce((s, [w]) => s + w, 0);
  return Array.from({ length: n }, (_, i) => {
    let pick = (i * 7919) % total;
    const [, type, data] = makers.find(([w]) => (pick -= w) < 0)!;
    return createEvent({ type, tenantId: tenant, source: 'elo://bench', data: data() });
  });
}

/** The same events with one property broken (a UUID, a status): the path that falls back to class-validator. */
function broken(events: CloudEvent[]): CloudEvent[] {
  return events.map((e) => ({
    ...e,
    data: { ...(e.data as object), channelId: 'not-a-uuid', status: 'lost' },
  }));
}

let gcCount = 0;
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++;
    gcMs += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

interface Case {
  name: string;
  run: (wire: string[], events: CloudEvent[]) => void;
}
const tick = () => new Promise((r) => setTimeout(r, 5)); // GC entries reach the observer on a timer turn
async function time(
  c: Case,
  wire: string[],
  events: CloudEvent[],
): Promise<{ us: number; gcs: number; gcMs: number }> {
  await tick();
  const [c0, m0] = [gcCount, gcMs];
  const t0 = process.cpuUsage();
  c.run(wire, events);
  const t = process.cpuUsage(t0);
  await tick();
  return { us: (t.user + t.system) / events.length, gcs: gcCount - c0, gcMs: gcMs - m0 };
}

const consume =
  (validate: (raw: unknown) => unknown): Case['run'] =>
  (wire) => {
    for (const s of wire) {
      try {
        validate(JSON.parse(s));
      } catch {
        // an invalid event is parked by the consumer: counted like a valid one
      }
    }
  };
const publish =
  (problems: (type: string, data: unknown) => string[]): Case['run'] =>
  (_, events) => {
    for (const e of events) problems(e.type, e.data);
  };

async function main(): Promise<void> {
  const valid = mix(N);
  const invalid = broken(valid);
  const sets = {
    valid: [valid.map((e) => JSON.stringify(e)), valid],
    invalid: [invalid.map((e) => JSON.stringify(e)), invalid],
  } as const;
  // Same verdicts before timing anything.
  for (const e of valid)
    if (payloadProblems(e.type, e.data).length) throw new Error(`bench event invalid: ${e.type}`);
  for (const e of invalid)
    if (payloadProblems(e.type, e.data).join() !== classValidatorProblems(e.type, e.data).join())
      throw new Error('messages differ');

  const pairs: Array<[string, keyof typeof sets, Case, Case]> = [
    [
      'consume (JSON.parse + validateEvent)',
      'valid',
      { name: 'class-validator', run: consume(classValidatorEvent) },
      { name: 'compiled', run: consume(validateEvent) },
    ],
    [
      'publish (payloadProblems)',
      'valid',
      { name: 'class-validator', run: publish(classValidatorProblems) },
      { name: 'compiled', run: publish(payloadProblems) },
    ],
    [
      'consume, every event invalid',
      'invalid',
      { name: 'class-validator', run: consume(classValidatorEvent) },
      { name: 'compiled', run: consume(validateEvent) },
    ],
  ];
  out(
    `validation bench: ${N} events a round, ${ROUNDS} rounds, mix ${makers.map(([w, t]) => `${t} ${w}%`).join(', ')}`,
  );
  out(`load before: ${load()}`);
  const [wire] = sets.valid;
  const parse = [] as number[];
  for (let i = 0; i < ROUNDS; i++)
    parse.push((await time({ name: 'parse', run: (w) => w.forEach((x) => JSON.parse(x)) }, wire, valid)).us);
  out(`JSON.parse alone (in both consume figures): ${median(parse).toFixed(2)} µs/event`);
  for (const [label, set, before, after] of pairs) {
    const [wire, events] = sets[set];
    // Warm-up: JIT both paths.
    await time(before, wire.slice(0, 5000), events.slice(0, 5000));
    await time(after, wire.slice(0, 5000), events.slice(0, 5000));
    type Round = Awaited<ReturnType<typeof time>>;
    const r = { before: [] as Round[], after: [] as Round[] };
    for (let i = 0; i < ROUNDS; i++) {
      r.before.push(await time(before, wire, events));
      r.after.push(await time(after, wire, events));
    }
    const us = (xs: Round[]) => median(xs.map((x) => x.us));
    const gc = (xs: Round[]) =>
      `${median(xs.map((x) => x.gcs))} GCs ${median(xs.map((x) => x.gcMs)).toFixed(1)} ms`;
    out(
      `${label}: ${before.name} ${us(r.before).toFixed(2)} µs/event (${gc(r.before)} a round), ` +
        `${after.name} ${us(r.after).toFixed(2)} µs/event (${gc(r.after)}), ratio ${(us(r.before) / us(r.after)).toFixed(2)}x`,
    );
  }
  out(`load after: ${load()}`);
}

void main();
