import { Injectable } from '@nestjs/common';
import type { CloudEvent } from '@elo/contracts';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { TemplateError, type RenderedRequest } from '@elo/templating';
import type { HttpRequestDto, SoapRequestDto } from '../integrations/dto/integration.dto';
import { IntegrationsService } from '../integrations/integrations.service';
import { buildEnvelope, parseSoapResponse, soapHeaders } from '../soap/soap-envelope';
import { paramQualified, WsdlService, WsdlUnavailableError } from '../soap/wsdl.service';
import type { IntegrationRow } from '../integrations/integration.model';
import {
  apiKeyHeader, maskDeep, maskHeaders, masker, withCredentials, parseBody, renderHttp, signatureHeaders, templateContext, truncate, withHeaders,
} from './request-builder';
import { storableString } from '@elo/persistence';

/** Why an attempt failed; `expired` is the worker's own: a run a bot flow requested, claimed after its deadline, not sent. */
export type ErrorClass = 'timeout' | 'dns' | 'connection' | 'tls' | 'http_status' | 'blocked' | 'template' | 'invalid' | 'expired';

export interface Prepared {
  rendered: RenderedRequest;
  context: Record<string, unknown>;
  mask: (t: string) => string;
  /** The API-key helper's header, if the request uses it: shown as •••• whole (see maskHeaders). */
  credentialHeader?: string;
}

export interface SentRequestView {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

export interface SendResult {
  request: SentRequestView;
  /** `truncated`: the body was over MAX_RESPONSE_BYTES; what was read of it is all anything sees. */
  response?: { status: number; headers: Record<string, string>; body: string; truncated?: true };
  /** The response body as JSON when it parses, else text. */
  parsed?: unknown;
  httpStatus?: number;
  ok: boolean;
  errorClass?: ErrorClass;
  error?: string;
  durationMs: number;
  /** Template context for the reply template: the event's fields, never the integration's secrets (replies go to customers). */
  context: Record<string, unknown>;
}

/** Response bytes read at most; past them the body is cut (`response.truncated`), the status still counts. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

const EGRESS_CLASS: Record<string, ErrorClass> = {
  timeout: 'timeout', dns: 'dns', connect: 'connection', tls: 'tls', blocked: 'blocked', redirect: 'http_status',
  too_large: 'http_status', protocol: 'connection', invalid_url: 'invalid', invalid_request: 'invalid',
};

/** Renders an integration's request for an event, signs it, sends it through HttpEgress, and reports what happened. */
@Injectable()
export class DeliverySender {
  constructor(
    private readonly egress: HttpEgress,
    private readonly integrations: IntegrationsService,
    private readonly wsdl: WsdlService,
  ) {}

  /** Renders the request (for SOAP: WSDL looked up, envelope built); throws on bad templates or WSDLs. */
  async prepare(integration: IntegrationRow, event: CloudEvent): Promise<Prepared> {
    const secrets = this.integrations.secrets(integration);
    const context = templateContext(event, secrets);
    const request = this.integrations.request(integration);
    if (integration.kind !== 'soap') {
      const rendered = renderHttp(request as HttpRequestDto, context);
      const credentialHeader = apiKeyHeader(request);
      return { rendered, context, mask: withCredentials(masker(secrets), rendered.headers, credentialHeader), credentialHeader };
    }
    const cfg = request as SoapRequestDto;
    const version = cfg.version ?? '1.1';
    const op = await this.wsdl.operation(cfg.wsdlUrl, cfg.operation, version, integration.delivery.timeoutMs);
    const base = renderHttp({ method: 'POST', url: op.endpoint, headers: cfg.headers, auth: cfg.auth }, context);
    const body = buildEnvelope({
      version, namespace: op.namespace, element: op.element, params: cfg.params, context, qualified: (name) => paramQualified(op, name),
    });
    const credentialHeader = apiKeyHeader(cfg);
    return {
      rendered: { method: 'POST', url: base.url, headers: withHeaders(base.headers, soapHeaders(version, op.soapAction)), body },
      context,
      mask: withCredentials(masker(secrets), base.headers, credentialHeader),
      credentialHeader,
    };
  }

  async send(integration: IntegrationRow, event: CloudEvent, webhookId: string): Promise<SendResult> {
    const started = Date.now();
    let prepared: Prepared;
    try {
      prepared = await this.prepare(integration, event);
    } catch (err) {
      const request = { method: integration.kind === 'soap' ? 'POST' : (integration.request as HttpRequestDto).method, url: '', headers: {}, body: null };
      // The WSDL could not be fetched: a transient failure like any other egress error.
      if (err instanceof EgressError) {
        return { request, ok: false, errorClass: EGRESS_CLASS[err.kind] ?? 'connection', error: `WSDL: ${err.message}`, durationMs: Date.now() - started, context: {} };
      }
      if (err instanceof WsdlUnavailableError) {
        return { request, ok: false, errorClass: 'http_status', error: err.message, durationMs: Date.now() - started, context: {} };
      }
      // Bad templates and unusable WSDLs fail the delivery at once: retrying cannot fix them.
      const errorClass = err instanceof TemplateError ? 'template' : 'invalid';
      return { request, ok: false, errorClass, error: (err as Error).message, durationMs: Date.now() - started, context: {} };
    }
    const { rendered, mask, credentialHeader } = prepared;
    const { secret: _secret, ...context } = prepared.context;
    const body = rendered.body ?? '';
    const headers = withHeaders(rendered.headers, signatureHeaders(this.integrations.signingSecrets(integration), webhookId, body));
    const request: SentRequestView = {
      method: rendered.method,
      url: mask(rendered.url),
      headers: maskHeaders(headers, mask, credentialHeader),
      body: rendered.body === undefined ? null : truncate(mask(rendered.body)),
    };
    try {
      const res = await this.egress.request({
        method: rendered.method,
        url: rendered.url,
        headers,
        body: rendered.body,
        timeoutMs: integration.delivery.timeoutMs,
        followRedirects: 0,
        maxResponseBytes: MAX_RESPONSE_BYTES,
        // The status says whether it worked: a 2xx with a large body is a success, not a failure sent again.
        truncateResponse: true,
      });
      let ok = res.status >= 200 && res.status < 300;
      let parsed = parseBody(res.body, res.headers['content-type']);
      // What the endpoint answered is kept (attempt log, outcome event) in PostgreSQL, whose text and jsonb refuse
      // U+0000 and lone surrogates: a PDF or any binary answer made the write fail, so the delivery was never closed
      // and went again.
      const keep = (t: string) => mask(storableString(t));
      let error = ok ? undefined : `HTTP ${res.status}`;
      if (integration.kind === 'soap' && res.body.length) {
        try {
          const soap = parseSoapResponse(res.body.toString('utf8'));
          parsed = soap.body;
          if (soap.fault !== undefined) {
            ok = false;
            error = `SOAP fault (HTTP ${res.status})`;
          }
        } catch (err) {
          ok = false;
          error = `SOAP response does not parse${res.truncated ? ` (cut at ${MAX_RESPONSE_BYTES} bytes)` : ''}: ${(err as Error).message}`;
        }
      }
      return {
        request,
        response: {
          status: res.status, headers: maskHeaders(res.headers, mask), body: truncate(keep(res.body.toString('utf8'))),
          ...(res.truncated ? { truncated: res.truncated } : {}),
        },
        // Reply templates, outcome events and the Test answer see the response with our secrets masked.
        parsed: maskDeep(parsed, keep),
        httpStatus: res.status,
        ok,
        errorClass: ok ? undefined : 'http_status',
        error,
        durationMs: res.durationMs,
        context,
      };
    } catch (err) {
      if (!(err instanceof EgressError)) throw err;
      return {
        request, ok: false, errorClass: EGRESS_CLASS[err.kind] ?? 'connection', error: err.message,
        durationMs: Date.now() - started, context,
      };
    }
  }
}
