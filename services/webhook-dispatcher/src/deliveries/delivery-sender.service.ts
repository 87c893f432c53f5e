import { Injectable } from '@nestjs/common';
import type { CloudEvent } from '@elo/contracts';
import { EgressError, HttpEgress } from '@elo/http-egress';
import { TemplateError, type RenderedRequest } from '@elo/templating';
import { IntegrationsService } from '../integrations/integrations.service';
import type { IntegrationRow } from '../integrations/integration.model';
import {
  maskHeaders, masker, parseBody, renderHttp, signatureHeaders, templateContext, truncate,
} from './request-builder';

export type ErrorClass = 'timeout' | 'dns' | 'connection' | 'tls' | 'http_status' | 'blocked' | 'template' | 'invalid';

export interface SentRequestView {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

export interface SendResult {
  request: SentRequestView;
  response?: { status: number; headers: Record<string, string>; body: string };
  /** The response body as JSON when it parses, else text. */
  parsed?: unknown;
  httpStatus?: number;
  ok: boolean;
  errorClass?: ErrorClass;
  error?: string;
  durationMs: number;
  /** Template context, for the reply template. */
  context: Record<string, unknown>;
}

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
  ) {}

  render(integration: IntegrationRow, event: CloudEvent): { rendered: RenderedRequest; context: Record<string, unknown>; mask: (t: string) => string } {
    const secrets = this.integrations.secrets(integration);
    const context = templateContext(event, secrets);
    return { rendered: renderHttp(integration.request, context), context, mask: masker(secrets) };
  }

  async send(integration: IntegrationRow, event: CloudEvent, webhookId: string): Promise<SendResult> {
    const started = Date.now();
    let prepared: ReturnType<DeliverySender['render']>;
    try {
      prepared = this.render(integration, event);
    } catch (err) {
      const msg = err instanceof TemplateError ? err.message : `cannot render: ${(err as Error).message}`;
      return {
        request: { method: integration.request.method, url: '', headers: {}, body: null }, ok: false,
        errorClass: 'template', error: msg, durationMs: Date.now() - started, context: {},
      };
    }
    const { rendered, context, mask } = prepared;
    const body = rendered.body ?? '';
    const headers = { ...rendered.headers, ...signatureHeaders(this.integrations.signingSecrets(integration), webhookId, body) };
    const request: SentRequestView = {
      method: rendered.method,
      url: mask(rendered.url),
      headers: maskHeaders(headers, mask),
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
        maxResponseBytes: 1024 * 1024,
      });
      const ok = res.status >= 200 && res.status < 300;
      return {
        request,
        response: { status: res.status, headers: res.headers, body: truncate(mask(res.body.toString('utf8'))) },
        parsed: parseBody(res.body, res.headers['content-type']),
        httpStatus: res.status,
        ok,
        errorClass: ok ? undefined : 'http_status',
        error: ok ? undefined : `HTTP ${res.status}`,
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
