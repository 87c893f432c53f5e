import { BaseServiceConfig } from '@elo/platform';

/** Elo webhook-dispatcher settings (see .env.example). */
export class WebhookDispatcherConfig extends BaseServiceConfig {}
