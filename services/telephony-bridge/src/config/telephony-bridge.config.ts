import { BaseServiceConfig } from '@elo/platform';

/** Elo telephony-bridge settings (see .env.example). */
export class TelephonyBridgeConfig extends BaseServiceConfig {}
