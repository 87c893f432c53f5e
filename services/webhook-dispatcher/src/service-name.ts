export const SERVICE = 'webhook-dispatcher';
export const SCHEMA = 'dispatcher';
