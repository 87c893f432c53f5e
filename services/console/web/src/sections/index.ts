import type { Section } from '../section';
import { integrations } from './integrations';
import { deliveries } from './deliveries';
import { keys } from './keys';
// Channels & bot flow, Telephony and Viability: `import { channels } from './channels';` etc. and add them below.

/** Every section, in navigation order. A key sees those whose permissions it holds any of. */
export const sections: Section[] = [
  integrations,
  deliveries,
  // channels, telephony, viability (services/console/web/src/sections/{channels,telephony,viability}.ts)
  keys,
];
