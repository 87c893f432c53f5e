import { secretMasker } from '@elo/auth';
import { EgressError, type EgressRequest } from '@elo/http-egress';
import { ProblemException } from '@elo/platform';
import { renderRequest, TemplateError, type RenderedRequest } from '@elo/templating';
import { normaliseAddress } from '../callbacks/source-address';
import { toRequestTemplate, type PbxProfile } from '../profiles/profiles.service';
import type { RequestTemplateDto } from '../profiles/dto/pbx-profile.dto';
import type { RequestTemplate } from '@elo/templating';

/** Renders one of the profile's request templates; a template that cannot render is the profile's fault (422). */
export function renderPbxRequest(what: string, t: RequestTemplate | RequestTemplateDto, ctx: Record<string, string>): RenderedRequest {
  try {
    return renderRequest(toRequestTemplate(t), ctx, { missing: 'error' });
  } catch (err) {
    if (err instanceof TemplateError) {
      throw new ProblemException(422, `the profile's ${what} request cannot be rendered: ${err.message}`);
    }
    throw err;
  }
}

/**
 * The egress request for a rendered PBX request. The profile's own PBX host (and only it) may be
 * private: the allowance is added only when the rendered URL goes to exactly that host, and the egress
 * lets it open only private-network addresses (EGRESS_REQUEST_PRIVATE_RANGES, by default RFC 1918,
 * CGNAT and unique-local), never loopback or link-local unless the deployment allows them itself.
 */
export function pbxEgressRequest(
  profile: PbxProfile,
  r: RenderedRequest,
  limits: Pick<EgressRequest, 'timeoutMs' | 'maxResponseBytes'>,
): EgressRequest {
  let host = '';
  try {
    host = new URL(r.url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    // the egress reports the bad URL
  }
  const allow: string[] = [];
  if (profile.pbxHost && host) {
    const pbx = profile.pbxHost.replace(/^\[|\]$/g, '');
    const pbxIp = normaliseAddress(pbx);
    const hostIp = normaliseAddress(host);
    if (pbxIp && hostIp === pbxIp) allow.push(pbxIp.includes(':') ? `${pbxIp}/128` : `${pbxIp}/32`);
    else if (!pbxIp && host === pbx) allow.push(pbx);
  }
  return {
    method: r.method,
    url: r.url,
    headers: r.headers,
    ...(r.body !== undefined ? { body: r.body } : {}),
    ...limits,
    ...(allow.length ? { policy: { allowPrivate: allow } } : {}),
  };
}

/** Printable excerpt of what the PBX answered, for problem bodies, with `secrets` masked. */
export function excerpt(body: Buffer | string, secrets: readonly string[], max = 300): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it strips
  const s = (typeof body === 'string' ? body : body.subarray(0, max * 4).toString('utf8')).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim();
  // A PBX that echoes the request it refused would hand the profile's sealed secret to whoever made the
  // call: masked in every form a request carries it.
  const masked = secretMasker(secrets)(s);
  return masked.length > max ? `${masked.slice(0, max)}…` : masked;
}

/**
 * An outbound failure as the problem the client gets: 504 for a PBX that did not answer in time, else 502.
 * `req` is what was sent, to tell a host the profile did not name from one it may not name.
 */
export function egressProblem(err: EgressError, what: string, req: EgressRequest): ProblemException {
  if (err.kind === 'timeout') {
    return new ProblemException(504, `the PBX did not answer the ${what} request in time: ${err.reason}`, { pbxError: err.kind });
  }
  const named = Boolean(req.policy?.allowPrivate?.length);
  const hint = err.kind !== 'blocked'
    ? ''
    : named
      ? ' (a profile\'s pbxHost may name only private-network addresses)'
      : ' (a PBX on a private network must be named as the profile\'s pbxHost)';
  return new ProblemException(502, `the ${what} request to the PBX failed: ${err.reason}${hint}`, { pbxError: err.kind });
}

export { EgressError };
