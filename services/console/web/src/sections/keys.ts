import { copyButton, field, h, table, when } from '../dom';
import { formError, submitting } from '../forms';
import type { Section, SectionContext } from '../section';

/** Key management goes through chat-ingress (every service serves the same admin API). */
const AUTH = 'chat-ingress';

interface KeyView {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
interface AuditRecord {
  id: number;
  actorKeyId: string;
  service: string;
  action: string;
  targetType: string;
  targetId: string | null;
  changes: { before: unknown; after: unknown };
  at: string;
}

async function keysCard(ctx: SectionContext, tenantId: string): Promise<HTMLElement> {
  const { api, principal, notify } = ctx;
  const card = h('section', { class: 'card', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'API keys'));
  const listBox = h('div', {});
  const once = h('div', {});
  // A tenant key grants only what it holds itself; the admin key may grant any tenant permission.
  const grantable = (principal.isAdmin ? ctx.settings.permissions ?? [] : principal.permissions).filter((p) => p !== 'tenants:manage');
  const name = h('input', { type: 'text', name: 'name', required: true }) as HTMLInputElement;
  const boxes = grantable.map((p) => {
    const b = h('input', { type: 'checkbox', name: 'permission', value: p, id: `perm-${p.replace(/\W/g, '-')}` }) as HTMLInputElement;
    return h('label', { for: b.id }, b, p);
  });
  const create = h('button', { type: 'submit' }, 'Create key');
  const form = h(
    'form',
    { class: 'create-key', 'aria-label': 'Create an API key' },
    h('h3', {}, 'New key'),
    field('Name', name, 'name'),
    h('fieldset', {}, h('legend', {}, 'Permissions'), h('div', { class: 'checks' }, ...boxes), h('div', { class: 'error', 'data-error-for': 'permissions' })),
    formError(),
    h('div', { class: 'actions' }, create),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, create, async () => {
      const permissions = [...form.querySelectorAll<HTMLInputElement>('input[name="permission"]:checked')].map((b) => b.value);
      const k = await api.post<{ id: string; key: string; name: string }>(AUTH, `/tenants/${tenantId}/keys`, { name: name.value.trim(), permissions });
      once.replaceChildren(
        h('div', { class: 'once', role: 'status' }, h('strong', {}, `Key "${k.name}" (shown only now; store it safely): `), h('code', { class: 'key-once' }, k.key), ' ', copyButton(k.key)),
      );
      name.value = '';
      form.querySelectorAll<HTMLInputElement>('input[name="permission"]').forEach((b) => (b.checked = false));
      await load();
    });
  });

  async function load(): Promise<void> {
    const keys = await api.get<KeyView[]>(AUTH, `/tenants/${tenantId}/keys`);
    listBox.replaceChildren(
      table(['Name', 'Prefix', 'Permissions', 'Last used', 'State', ''], keys, (k) => {
        const revoked = k.revokedAt !== null && new Date(k.revokedAt) <= new Date();
        const state = revoked ? h('span', { class: 'status-bad' }, `revoked ${when(k.revokedAt)}`) : k.revokedAt ? `expires ${when(k.revokedAt)}` : h('span', { class: 'status-ok' }, 'active');
        let action: Node | string = '';
        if (!revoked) {
          const self = k.id === principal.keyId;
          const b = h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${k.name} (${k.prefix})` }, self ? 'Revoke (this key)' : 'Revoke');
          b.addEventListener('click', () => {
            if (!confirm(`Revoke "${k.name}" (${k.prefix})? Clients using it stop working at once.${self ? ' This is the key you signed in with: the console signs out.' : ''}`)) return;
            void submitting(listBox, b, async () => {
              await api.del(AUTH, `/tenants/${tenantId}/keys/${k.id}`);
              notify(`Key ${k.name} revoked.`);
              await load();
            });
          });
          action = b;
        }
        return [h('strong', {}, k.name), h('code', {}, k.prefix), k.permissions.join(', '), when(k.lastUsedAt), state, action];
      }, 'No keys.'),
      formError(),
    );
  }
  await load();
  card.append(once, listBox, form);
  return card;
}

async function auditCard(ctx: SectionContext): Promise<HTMLElement> {
  const { api } = ctx;
  const card = h('section', { class: 'card', 'aria-labelledby': 'audit-title' }, h('h2', { id: 'audit-title' }, 'Audit log'));
  const rows: AuditRecord[] = [];
  const box = h('div', {});
  const more = h('button', { type: 'button', class: 'secondary' }, 'Older entries');
  let before: number | null = null;
  async function page(): Promise<void> {
    const p = await api.get<{ items: AuditRecord[]; nextBefore: number | null }>(AUTH, '/audit', { before: before ?? undefined, limit: 50 });
    rows.push(...p.items);
    before = p.nextBefore;
    more.hidden = before === null;
    box.replaceChildren(
      table(['When', 'Action', 'Target', 'By key', 'Service', 'Change'], rows, (r) => [
        when(r.at),
        h('code', {}, r.action),
        `${r.targetType}${r.targetId ? ` ${r.targetId}` : ''}`,
        h('code', {}, r.actorKeyId),
        r.service,
        h('details', {}, h('summary', {}, 'Before / after'), h('pre', {}, JSON.stringify(r.changes, null, 2))),
      ], 'No changes recorded yet.'),
    );
  }
  more.addEventListener('click', () => void submitting(card, more, page));
  await page();
  card.append(box, h('div', { class: 'actions' }, more), formError());
  return card;
}

export const keys: Section = {
  id: 'keys',
  title: 'Keys and audit',
  permissions: ['keys:manage', 'audit:read'],
  async render(root, ctx) {
    root.append(h('h1', { class: 'page-title' }, 'Keys and audit'));
    if (ctx.can('keys:manage')) {
      if (ctx.principal.tenantId) root.append(await keysCard(ctx, ctx.principal.tenantId));
      else {
        // The bootstrap admin key belongs to no tenant: it names the tenant whose keys to manage.
        const tenant = h('input', { type: 'text', name: 'tenantId', value: ctx.sub, placeholder: '00000000-0000-4000-8000-000000000000' }) as HTMLInputElement;
        const open = h('button', { type: 'submit' }, 'Show keys');
        const form = h('form', { class: 'card', 'aria-label': 'Choose a tenant' }, field('Tenant id', tenant, 'tenantId'), formError(), h('div', { class: 'actions' }, open));
        form.addEventListener('submit', (e) => {
          e.preventDefault();
          ctx.go('keys', tenant.value.trim());
        });
        root.append(form);
        if (ctx.can('tenants:manage')) {
          const tname = h('input', { type: 'text', name: 'tenantName', required: true }) as HTMLInputElement;
          const make = h('button', { type: 'submit' }, 'Create tenant');
          const create = h('form', { class: 'card create-tenant', 'aria-label': 'Create a tenant' }, h('h2', {}, 'New tenant'), field('Tenant name', tname, 'name'), formError(), h('div', { class: 'actions' }, make));
          create.addEventListener('submit', (e) => {
            e.preventDefault();
            void submitting(create, make, async () => {
              const t = await ctx.api.post<{ id: string; name: string }>(AUTH, '/tenants', { name: tname.value.trim() });
              ctx.notify(`Tenant ${t.name} created: ${t.id}`);
              ctx.go('keys', t.id);
            });
          });
          root.append(create);
        }
        if (ctx.sub) root.append(await keysCard(ctx, ctx.sub));
      }
    }
    if (ctx.can('audit:read') && ctx.principal.tenantId) root.append(await auditCard(ctx));
  },
};
