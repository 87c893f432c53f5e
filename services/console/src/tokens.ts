export const WEB_DIST = Symbol('WEB_DIST');
export const CONSOLE_CONFIG = Symbol('CONSOLE_CONFIG');
