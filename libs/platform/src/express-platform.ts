import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Application } from 'express';
import { createServer, IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';

/**
 * Nest's Express adapter, with Node's HTTP server creating each request and response with Express's
 * prototypes already in place.
 *
 * Express gives every request and response its own prototypes (`Object.setPrototypeOf(req,
 * app.request)`, the same for `res`) as they arrive. V8 keeps an object whose prototype was changed,
 * and what it references, alive through the next young-generation collections, so every request's
 * objects were promoted and died in the old generation: scavenges of 8-12 ms instead of about 1 and
 * a mark-compact every few seconds, in every service. Born with those prototypes, the objects make
 * Express's call a no-op (V8 returns at once when the prototype is already the one asked for).
 * `bench/http-floor.bench.ts` measures the difference (docs/performance.md).
 */
export class ExpressPlatform extends ExpressAdapter {
  override initHttpServer(options: NestApplicationOptions): void {
    // HTTPS and connection tracking stay Nest's own (no service uses them).
    if (options?.httpsOptions || options?.forceCloseConnections) return super.initHttpServer(options);
    // Express's own typings leave out the two prototypes it keeps on the app.
    const app = this.getInstance<Application & { request: object; response: object }>();
    const serverOptions: ServerOptions = {
      IncomingMessage: withPrototype(IncomingMessage, app.request),
      ServerResponse: withPrototype(ServerResponse, app.response) as unknown as typeof ServerResponse,
    };
    this.httpServer = createServer(serverOptions, app);
  }
}

/**
 * A constructor that builds what `base` builds, with `prototype` (an object deriving from
 * `base.prototype`) as its instances' prototype. A function, not a class: a class's prototype cannot be
 * replaced, and `base` (Node's own, function-style constructors) is called on the new object as Node
 * itself calls it.
 */
function withPrototype<T extends new (...args: never[]) => object>(base: T, prototype: object): T {
  if (!(prototype instanceof base)) throw new Error(`the prototype given does not derive from ${base.name}`);
  function Born(this: object, ...args: unknown[]): void {
    (base as unknown as (...a: unknown[]) => void).apply(this, args);
  }
  Born.prototype = prototype;
  return Born as unknown as T;
}
