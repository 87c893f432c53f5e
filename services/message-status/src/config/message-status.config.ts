import { BaseServiceConfig } from '@elo/platform';

/** Elo message-status settings (see .env.example). */
export class MessageStatusConfig extends BaseServiceConfig {}
