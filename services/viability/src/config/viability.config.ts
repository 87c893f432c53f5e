import { BaseServiceConfig } from '@elo/platform';

/** Elo viability settings (see .env.example). */
export class ViabilityConfig extends BaseServiceConfig {}
