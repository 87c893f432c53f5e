import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';
import { EVENT_CATALOGUE, type EventType } from './events/catalogue';
import { EVENTS_EXCHANGE_NAME } from './names';

/**
 * The AsyncAPI 3 document of the event catalogue, generated from the payload classes and their
 * class-validator rules. docs/asyncapi.json is this document; a unit test fails when it is stale.
 */
export function buildAsyncApiDocument(): Record<string, unknown> {
  // class-transformer keeps @Type() targets in a storage it does not export from its entry point;
  // the schema generator needs them to follow nested classes.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as {
    defaultMetadataStorage: MetadataStorage;
  };
  const schemas = validationMetadatasToSchemas({
    classTransformerMetadataStorage: defaultMetadataStorage,
    refPointerPrefix: '#/components/schemas/',
  });
  // A payload class that only extends another (no rules of its own) has the parent's schema.
  for (const entry of Object.values(EVENT_CATALOGUE)) {
    let cls = entry.payload as unknown as { name: string };
    while (!schemas[entry.payload.name] && cls) {
      cls = Object.getPrototypeOf(cls) as { name: string };
      if (cls && schemas[cls.name]) schemas[entry.payload.name] = schemas[cls.name];
    }
  }
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const types = Object.keys(EVENT_CATALOGUE).sort() as EventType[];
  for (const type of types) {
    const entry = EVENT_CATALOGUE[type];
    const id = type.replace(/\./g, '_');
    messages[id] = {
      name: type,
      title: type,
      summary: entry.description,
      contentType: 'application/cloudevents+json',
      headers: { $ref: '#/components/schemas/CloudEventEnvelope' },
      payload: { $ref: `#/components/schemas/${entry.payload.name}` },
      'x-dataschema': `urn:elo:${type}:v${entry.version}`,
      'x-producer': entry.producer,
      'x-consumers': entry.consumers,
    };
    channels[id] = {
      address: type,
      description: `Routing key ${type} on the ${EVENTS_EXCHANGE_NAME} topic exchange.`,
      messages: { [id]: { $ref: `#/components/messages/${id}` } },
      bindings: { amqp: { is: 'routingKey', exchange: { name: EVENTS_EXCHANGE_NAME, type: 'topic', durable: true } } },
    };
    operations[`publish_${id}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${id}` },
      summary: `${entry.producer} publishes ${type}`,
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Elo event catalogue',
      version: '1.0.0',
      description:
        'Every event on the bus is a CloudEvents 1.0 event in structured JSON mode with the `tenantid` ' +
        'extension (and `correlationid`). The routing key is the event type.',
    },
    defaultContentType: 'application/cloudevents+json',
    channels,
    operations,
    components: {
      messages,
      schemas: {
        CloudEventEnvelope: {
          type: 'object',
          required: ['specversion', 'id', 'source', 'type', 'time', 'dataschema', 'tenantid', 'data'],
          properties: {
            specversion: { const: '1.0' },
            id: { type: 'string' },
            source: { type: 'string' },
            type: { type: 'string' },
            time: { type: 'string', format: 'date-time' },
            datacontenttype: { const: 'application/json' },
            dataschema: { type: 'string' },
            subject: { type: 'string' },
            tenantid: { type: 'string' },
            correlationid: { type: 'string' },
          },
        },
        ...Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
      },
    },
  };
}
