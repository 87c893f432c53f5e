/** The topic exchange every event goes through (declared by libs/messaging). */
export const EVENTS_EXCHANGE_NAME = 'elo.events';
