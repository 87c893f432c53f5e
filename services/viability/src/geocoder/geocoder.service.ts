import { Inject, Injectable } from '@nestjs/common';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { storableString } from '@elo/persistence';
import { ProblemException, SERVICE_CONFIG } from '@elo/platform';
import { DataSource } from 'typeorm';
import type { ViabilityConfig } from '../config/viability.config';

export type Located =
  | { found: true; lat: number; lng: number; displayName: string }
  | { found: false; reason: string; candidates?: string[] };

interface NominatimResult {
  lat: string;
  lon: string;
  display_name?: string;
}

/**
 * The geocoder failed: could not be reached, answered an error, or answered something that is not a
 * place (coordinates out of range). Callers answer 502 with its message, which names no internals.
 */
export class GeocoderError extends Error {}

/** Too many lookups already wait for their turn (the rate limit): refused at once, not queued without end. */
export class GeocoderBusyError extends GeocoderError {}

/**
 * What an API answers for a failed lookup: too many waiting is a passing overload (503), any other geocoder
 * failure a 502 with its reason; anything else is a bug, rethrown as it is (500, logged, not shown).
 */
export function geocoderProblem(err: unknown): unknown {
  if (err instanceof GeocoderBusyError) return new ProblemException(503, err.message);
  if (err instanceof GeocoderError) return new ProblemException(502, err.message);
  return err;
}

const validPoint = (lat: number, lng: number) => Number.isFinite(lat) && Number.isFinite(lng) && Math.abs(lat) <= 90 && Math.abs(lng) <= 180;

/** A cached answer as trusted as a fresh one: a found place must have coordinates in range. */
const validLocated = (l: Located | undefined): l is Located => l !== undefined && l !== null && (l.found !== true || validPoint(l.lat, l.lng));

/** Results farther apart than this make an address ambiguous. */
const AMBIGUOUS_METERS = 1_000;

function meters(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const r = 6_371_000;
  const dLat = ((b.lat - a.lat) * Math.PI) / 180;
  const dLng = ((b.lng - a.lng) * Math.PI) / 180;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos((a.lat * Math.PI) / 180) * Math.cos((b.lat * Math.PI) / 180) * Math.sin(dLng / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

/**
 * Addresses to coordinates through a Nominatim-compatible search API (base URL configured, called
 * through HttpEgress). Answers are cached in the database, and calls are spaced by at least the
 * configured interval (one a second by default), across all requests of every replica (see sharedTurn).
 */
@Injectable()
export class GeocoderService {
  private next = Promise.resolve();
  private lastCall = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly egress: HttpEgress,
    @Inject(SERVICE_CONFIG) private readonly config: ViabilityConfig,
  ) {}

  get configured(): boolean {
    return Boolean(this.config.GEOCODER_BASE_URL);
  }

  async locate(typed: string): Promise<Located> {
    if (!this.config.GEOCODER_BASE_URL) return { found: false, reason: 'address lookup is not configured' };
    // U+0000 and lone surrogates (JSON escapes) as U+FFFD: PostgreSQL refuses them in the cache's key, and
    // encodeURIComponent throws on a lone surrogate (both were a 500).
    const address = storableString(typed);
    // One key for one address: an accent typed on macOS or iOS often arrives decomposed (a + U+0303), which
    // missed the cache of the same address composed and spent another lookup of the rate limit.
    const query = address.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
    // "Not found" and "ambiguous" are kept only GEOCODER_NEGATIVE_TTL_SECONDS: the geocoder's data grows
    // (a new street), so they are asked again after that. Places found are kept.
    const cached: Array<{ result: Located; stale: boolean }> = await this.ds.query(
      `SELECT result, (result->>'found')::boolean IS NOT TRUE AND created_at <= now() - make_interval(secs => $2) AS stale
         FROM viability.geocode_cache WHERE query = $1`,
      [query, this.config.GEOCODER_NEGATIVE_TTL_SECONDS],
    );
    // A bad answer cached before geocoder answers were checked is asked again (and replaced below).
    if (cached[0] && !cached[0].stale && validLocated(cached[0].result)) return cached[0].result;
    const located = await this.ask(address.trim());
    await this.ds.query(
      'INSERT INTO viability.geocode_cache (query, result) VALUES ($1, $2) ON CONFLICT (query) DO UPDATE SET result = EXCLUDED.result, created_at = now()',
      [query, JSON.stringify(located)],
    );
    return located;
  }

  private async ask(address: string): Promise<Located> {
    const results = await this.throttled(async () => {
      const url = `${this.config.GEOCODER_BASE_URL!.replace(/\/$/, '')}/search?format=jsonv2&limit=5&q=${encodeURIComponent(address)}`;
      try {
        const res = await this.egress.request({ method: 'GET', url, headers: { 'user-agent': 'Elo viability', accept: 'application/json' }, timeoutMs: 10_000 });
        if (res.status !== 200) throw new GeocoderError(`the geocoder answered ${res.status}`);
        return JSON.parse(res.body.toString('utf8')) as NominatimResult[];
      } catch (err) {
        if (err instanceof GeocoderError) throw err;
        throw new GeocoderError(err instanceof EgressError ? `the geocoder could not be reached: ${err.reason}` : 'the geocoder answered something that is not JSON', { cause: err });
      }
    });
    // Nominatim sends coordinates as decimal text; Number() would read a missing or blank one as 0 (a point off Africa).
    const coordinate = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
    const points = (Array.isArray(results) ? results : []).map((r) => ({ lat: coordinate(r?.lat), lng: coordinate(r?.lon), name: typeof r?.display_name === 'string' ? r.display_name : '' }));
    // A result that is not a place on Earth means the geocoder is broken, not that the address is unknown:
    // a failure (nothing cached), never a point passed on to a check or to the FindME page.
    if (points.some((p) => !validPoint(p.lat, p.lng))) throw new GeocoderError('the geocoder answered coordinates that are not valid');
    if (points.length === 0) return { found: false, reason: 'the address was not found' };
    const [first] = points as [(typeof points)[number]];
    const far = points.filter((p) => meters(first, p) > AMBIGUOUS_METERS);
    if (far.length > 0) {
      return { found: false, reason: 'the address is ambiguous; give more detail (number, district, city)', candidates: points.map((p) => p.name) };
    }
    return { found: true, lat: first.lat, lng: first.lng, displayName: first.name };
  }

  /**
   * Waits for this call's turn among every replica's: each call takes the next slot from a row all of them
   * share (the provider's rate limit is the service's, not each process's; spaced in one process only, N
   * replicas asked N times as often). Slots are handed out by the database's clock, one interval apart.
   */
  private async sharedTurn(interval: number): Promise<void> {
    if (interval <= 0) return;
    const [slot]: Array<{ wait_ms: number }> = await this.ds.query(
      `INSERT INTO viability.geocoder_pace AS p (id, next_at) VALUES (1, clock_timestamp() + make_interval(secs => $1::float8 / 1000))
       ON CONFLICT (id) DO UPDATE SET next_at = greatest(p.next_at, clock_timestamp()) + make_interval(secs => $1::float8 / 1000)
       RETURNING greatest(0, extract(epoch FROM p.next_at - clock_timestamp()) * 1000 - $1::float8)::float8 AS wait_ms`,
      [interval],
    );
    const wait = Number(slot?.wait_ms ?? 0);
    // A millisecond more: timers may fire a little early.
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait) + 1));
  }

  /** Lookups queued or running (see throttled). */
  private waiting = 0;

  /**
   * Runs calls one after another, at least the configured interval apart. At most GEOCODER_MAX_QUEUE
   * wait: beyond that a lookup is refused at once (GeocoderBusyError) rather than answered minutes later.
   */
  private throttled<T>(fn: () => Promise<T>): Promise<T> {
    const max = this.config.GEOCODER_MAX_QUEUE;
    if (this.waiting >= max) return Promise.reject(new GeocoderBusyError(`too many address lookups are waiting (${max}); try again shortly`));
    this.waiting++;
    const interval = this.config.GEOCODER_MIN_INTERVAL_MS;
    const run = this.next.then(async () => {
      // Timers may fire a millisecond early: wait until the interval has really passed.
      for (let wait = this.lastCall + interval - Date.now(); wait > 0; wait = this.lastCall + interval - Date.now()) {
        await new Promise((r) => setTimeout(r, wait + 1));
      }
      await this.sharedTurn(interval);
      this.lastCall = Date.now();
      try {
        return await fn();
      } finally {
        // Counted from the answer too: a request sent on a fresh connection can reach the provider
        // later than the next one on a warm connection, so spacing only the sends can look too close.
        this.lastCall = Date.now();
      }
    });
    this.next = run.then(
      () => undefined,
      () => undefined,
    );
    return run.finally(() => this.waiting--);
  }
}
