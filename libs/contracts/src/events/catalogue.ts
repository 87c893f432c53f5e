import { ChatChannelTokenProblem, ChatFlowStep, ChatMessageReceived, ChatMessageSendRequested, ChatMessageSent, ChatMessageStatus, ConversationClosed,
  ConversationOpened, ConversationTransferred, ConversationTransferRequested } from './chat.events';
import { IntegrationDeliveryFailed, IntegrationDeliverySucceeded, IntegrationDisabled, IntegrationRequested } from './integration.events';
import { MessageFailed, MessageStatusChanged } from './message-status.events';
import { CallAnswered, CallEnded, CallStarted } from './telephony.events';
import { ViabilityChecked, ViabilityRequested } from './viability.events';

export interface CatalogueEntry {
  version: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: new () => any;
  /**
   * How consumers read the older versions still in flight once `version` is raised (events in an outbox,
   * a queue, a retry queue or the parking lot): `upgrades[n]` turns a version n payload into a version n + 1
   * one. Raising `version` without the upgrade from the version before leaves those events unreadable: parked.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  upgrades?: Readonly<Record<number, (data: any) => unknown>>;
  producer: string;
  consumers: string[];
  description: string;
}

/**
 * Every event type on `elo.events`. The type is the routing key. Types are never renamed once shipped;
 * a breaking payload change ships as a new version (and `dataschema` says which), with the upgrade from
 * the version before it (`upgrades`).
 */
export const EVENT_CATALOGUE = {
  'chat.message.received': { version: 1, payload: ChatMessageReceived, producer: 'chat-ingress', consumers: ['chat-ingress', 'webhook-dispatcher', 'viability'], description: 'A customer sent a message on a channel.' },
  'chat.message.send.requested': { version: 1, payload: ChatMessageSendRequested, producer: 'any', consumers: ['chat-ingress', 'message-status', 'webhook-dispatcher'], description: 'Someone asks chat-ingress to send a message to a conversation or contact.' },
  'chat.message.sent': { version: 1, payload: ChatMessageSent, producer: 'chat-ingress', consumers: ['message-status', 'webhook-dispatcher'], description: 'The provider accepted an outbound message.' },
  'chat.message.status': { version: 1, payload: ChatMessageStatus, producer: 'chat-ingress', consumers: ['message-status', 'webhook-dispatcher'], description: 'A provider reported a status (sent, delivered, read, failed) for an outbound message.' },
  'chat.conversation.opened': { version: 1, payload: ConversationOpened, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A new conversation opened in the channel\'s bot queue.' },
  'chat.conversation.transferred': { version: 1, payload: ConversationTransferred, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A conversation moved to another queue.' },
  'chat.conversation.closed': { version: 1, payload: ConversationClosed, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A conversation closed.' },
  'chat.conversation.transfer.requested': { version: 1, payload: ConversationTransferRequested, producer: 'any', consumers: ['chat-ingress', 'webhook-dispatcher'], description: 'Someone asks chat-ingress to move a conversation to a queue.' },
  'chat.flow.step': { version: 1, payload: ChatFlowStep, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A conversation took one step of the tenant\'s bot flow.' },
  'chat.channel.token.expiring': { version: 1, payload: ChatChannelTokenProblem, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A channel\'s provider token expires soon and could not be refreshed.' },
  'chat.channel.token.invalid': { version: 1, payload: ChatChannelTokenProblem, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A channel\'s provider token was refused by the provider.' },
  'integration.requested': { version: 1, payload: IntegrationRequested, producer: 'chat-ingress', consumers: ['webhook-dispatcher'], description: 'A bot flow step asks for a named integration to run for a conversation.' },
  'integration.delivery.succeeded': { version: 1, payload: IntegrationDeliverySucceeded, producer: 'webhook-dispatcher', consumers: ['message-status', 'chat-ingress'], description: 'An integration delivery got a 2xx answer.' },
  'integration.delivery.failed': { version: 1, payload: IntegrationDeliveryFailed, producer: 'webhook-dispatcher', consumers: ['message-status', 'chat-ingress'], description: 'An integration delivery exhausted its retries or failed permanently.' },
  'integration.disabled': { version: 1, payload: IntegrationDisabled, producer: 'webhook-dispatcher', consumers: [], description: 'The dispatcher disabled an integration by itself: failing past its configured period, or its endpoint answered 410 Gone.' },
  'viability.requested': { version: 1, payload: ViabilityRequested, producer: 'chat-ingress', consumers: ['viability', 'webhook-dispatcher'], description: 'A bot flow step asks whether a location can be served.' },
  'viability.checked': { version: 1, payload: ViabilityChecked, producer: 'viability', consumers: ['webhook-dispatcher', 'chat-ingress'], description: 'A viability check finished.' },
  'telephony.call.answered': { version: 1, payload: CallAnswered, producer: 'telephony-bridge', consumers: ['webhook-dispatcher'], description: 'The PBX delivered a call to an operator.' },
  'telephony.call.started': { version: 1, payload: CallStarted, producer: 'telephony-bridge', consumers: ['webhook-dispatcher'], description: 'A Click2Call was started at the PBX.' },
  'telephony.call.ended': { version: 1, payload: CallEnded, producer: 'telephony-bridge', consumers: ['webhook-dispatcher'], description: 'A call ended.' },
  'message.status.changed': { version: 1, payload: MessageStatusChanged, producer: 'message-status', consumers: ['webhook-dispatcher'], description: 'An outbound message\'s status moved forward.' },
  'message.failed': { version: 1, payload: MessageFailed, producer: 'message-status', consumers: ['webhook-dispatcher'], description: 'An outbound message failed, with the classified reason.' },
} as const satisfies Record<string, CatalogueEntry>;

export type EventType = keyof typeof EVENT_CATALOGUE;
export type EventPayload<T extends EventType> = InstanceType<(typeof EVENT_CATALOGUE)[T]['payload']>;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];

export function isEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(EVENT_CATALOGUE, type);
}
