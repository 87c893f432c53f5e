export const SERVICE = 'webhook-dispatcher';
export const SCHEMA = 'dispatcher';
/**
 * The NOTIFY channel that wakes every replica's delivery workers. Here, not in the worker's module, so the resend CLI
 * (which notifies it) does not load the whole service to read one name.
 */
export const DELIVERIES_CHANNEL = 'dispatcher_deliveries';
