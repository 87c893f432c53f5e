export type EgressErrorKind =
  | 'blocked'
  | 'dns'
  | 'timeout'
  | 'connect'
  | 'tls'
  | 'too_large'
  | 'redirect'
  | 'invalid_url'
  | 'invalid_request'
  | 'protocol';

/**
 * The one error type of outbound calls. `reason` says what went wrong in words an admin can act on.
 * Neither the message nor the reason ever carries request headers, bodies, URL credentials, path or
 * query (they may hold secrets): only the method and the origin.
 */
export class EgressError extends Error {
  override readonly name = 'EgressError';

  constructor(
    readonly kind: EgressErrorKind,
    readonly reason: string,
    readonly context: { origin?: string; requestId?: string } = {},
  ) {
    super(`egress ${kind}: ${reason}${context.origin ? ` (${context.origin})` : ''}`);
  }
}
