import { BaseServiceConfig } from '@elo/platform';

/** Elo chat-ingress settings (see .env.example). */
export class ChatIngressConfig extends BaseServiceConfig {}
