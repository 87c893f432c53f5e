import type { Section } from '../section';
import { integrations } from './integrations';
import { deliveries } from './deliveries';
import { keys } from './keys';
import { channels } from './channels';
import { telephony } from './telephony';
import { viability } from './viability';

/** Every section, in navigation order. A key sees those whose permissions it holds any of. */
export const sections: Section[] = [
  integrations,
  deliveries,
  channels,
  telephony,
  viability,
  keys,
];
