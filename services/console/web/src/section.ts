import type { ApiClient } from './api';
import type * as dom from './dom';
import type * as forms from './forms';

/** Who signed in (GET /auth/me through /api/chat-ingress). */
export interface Principal {
  keyId: string;
  name: string;
  prefix: string | null;
  /** null for the bootstrap admin key. */
  tenantId: string | null;
  permissions: string[];
  isAdmin: boolean;
}

/** What the console server tells the page (GET /console-config.json). */
export interface ConsoleSettings {
  dashboardUrl: string;
  operatorUrl: string;
  services: string[];
  /** Permissions a tenant key may carry. */
  permissions?: string[];
}

/** Everything a section gets when it is shown. */
export interface SectionContext {
  /** Calls `/api/<service>/…` with the signed-in key; problem+json answers throw ApiError. */
  api: ApiClient;
  principal: Principal;
  settings: ConsoleSettings;
  /** True when the key holds this permission. */
  can(permission: string): boolean;
  /** Element builders (h, field, pre, …) and form helpers (showErrors, clearErrors, rows, …). */
  dom: typeof dom;
  forms: typeof forms;
  /** Shows a short message in the page's live region (role=status). */
  notify(message: string, kind?: 'ok' | 'bad'): void;
  /** Goes to another section (or a sub-path of one): `go('integrations', 'edit/<id>')`. */
  go(sectionId: string, sub?: string): void;
  /** The part of the location hash after `#/<section id>/`, e.g. `edit/<id>`. */
  sub: string;
}

/**
 * A console section. It is listed in the navigation when the key holds any of `permissions`
 * (what a key may not do is not shown), and rendered into `root` (emptied before) when chosen.
 */
export interface Section {
  /** Used in the location hash: `#/<id>`. */
  id: string;
  title: string;
  /** Any one of these shows the section. */
  permissions: string[];
  render(root: HTMLElement, ctx: SectionContext): void | Promise<void>;
}
