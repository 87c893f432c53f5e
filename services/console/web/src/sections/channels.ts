import type { Section, SectionContext } from '../section';
import { copyButton, field, h, table, when } from '../dom';
import { formError, submitting } from '../forms';
import { flowEditor } from './channels-flow';

/** What chat-ingress answers for a channel (GET/POST/PATCH /channels). */
interface Channel {
  id: string;
  provider: Provider;
  name: string;
  status: 'active' | 'disabled';
  webhookUrl: string;
  /** Masked except in the create answer. */
  verifyToken: string;
  callbackUrl?: string;
  settings: Settings;
  token: { status?: string; checkedAt?: string; expiresAt?: string; error?: string };
  /** Only in the create answer: generated secrets, shown once. */
  secrets?: Record<string, string>;
}

interface Settings {
  botQueue: string;
  humanQueue: string;
  pickupNotice: 'none' | 'simple' | 'with_agent_name';
  pickupMessage?: string;
  notifyOnTransfer: boolean;
  transferMessage?: string;
  notifyOnWaiting: boolean;
  waitingMessage?: string;
  closingMessage?: string;
  maxAttachmentMb: number;
  reminderAfterMinutes: number;
  reminderMessage?: string;
  closeAfterMinutes: number;
}

type Provider = 'whatsapp' | 'messenger' | 'instagram' | 'telegram' | 'generic';

const PROVIDERS: Array<{ id: Provider; title: string }> = [
  { id: 'whatsapp', title: 'WhatsApp Cloud' },
  { id: 'messenger', title: 'Messenger' },
  { id: 'instagram', title: 'Instagram' },
  { id: 'telegram', title: 'Telegram' },
  { id: 'generic', title: 'Generic (any system, Standard Webhooks)' },
];

/** The fields each provider's channel takes besides its name: [API field, label, input type, hint]. */
const PROVIDER_FIELDS: Record<Provider, Array<[string, string, string, string?]>> = {
  whatsapp: [
    ['phoneNumberId', 'Phone number id', 'text'],
    ['displayPhone', 'Display phone', 'text', '+55 41 3000-1000'],
    ['accountId', 'WhatsApp business account id', 'text'],
    ['credentials.accessToken', 'Access token', 'password'],
    ['credentials.appSecret', 'App secret (verifies X-Hub-Signature-256)', 'password'],
  ],
  messenger: [
    ['accountId', 'Page id', 'text'],
    ['credentials.accessToken', 'Page access token', 'password'],
    ['credentials.appSecret', 'App secret (verifies X-Hub-Signature-256)', 'password'],
  ],
  instagram: [
    ['accountId', 'Instagram account id', 'text'],
    ['credentials.accessToken', 'Access token', 'password'],
    ['credentials.appSecret', 'App secret (verifies X-Hub-Signature-256)', 'password'],
  ],
  telegram: [
    ['botName', 'Bot username', 'text'],
    ['credentials.accessToken', 'Bot token', 'password'],
    ['credentials.telegramSecretToken', 'Secret token (left empty: generated)', 'password'],
  ],
  generic: [
    ['callbackUrl', 'Callback URL (Elo posts outbound messages here)', 'url', 'https://crm.example.com/elo'],
    ['credentials.signingSecret', 'Signing secret whsec_… (left empty: generated)', 'password'],
  ],
};

const SECRET_LABELS: Record<string, string> = {
  verifyToken: 'Verify token',
  telegramSecretToken: 'Telegram secret token',
  signingSecret: 'Signing secret',
};

/** `a.b` = 'x' → { a: { b: 'x' } } (empty values left out). */
function nested(pairs: Array<[string, string]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of pairs) {
    if (!value.trim()) continue;
    const keys = path.split('.');
    let at = out;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys.at(-1)!] = value.trim();
  }
  return out;
}

/** A read-only value with a copy button (the input lets it be selected by hand too). */
function copyable(label: string, value: string, name: string): HTMLDivElement {
  const input = h('input', { type: 'text', readonly: true, value, name, 'data-copy': name });
  return h('div', { class: 'row' }, field(label, input), copyButton(value, `Copy ${label.toLowerCase()}`));
}

function createForm(ctx: SectionContext, onCreated: (c: Channel) => void): HTMLElement {
  const provider = h('select', { name: 'provider' }, ...PROVIDERS.map((p) => h('option', { value: p.id }, p.title)));
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200 });
  const specific = h('div', {});
  const inputs = new Map<string, HTMLInputElement>();
  const drawSpecific = () => {
    inputs.clear();
    specific.replaceChildren(
      ...PROVIDER_FIELDS[provider.value as Provider].map(([api, label, type, hint]) => {
        const input = h('input', { type, name: api, autocomplete: type === 'password' ? 'new-password' : 'off', placeholder: hint });
        inputs.set(api, input);
        return field(label, input, api);
      }),
    );
  };
  provider.addEventListener('change', drawSpecific);
  drawSpecific();
  const button = h('button', { type: 'submit' }, 'Create channel');
  const form = h(
    'form',
    { 'aria-labelledby': 'channel-new' },
    h('h2', { id: 'channel-new' }, 'New channel'),
    h('div', { class: 'row' }, field('Provider', provider, 'provider'), field('Name', name, 'name')),
    specific,
    formError(),
    h('div', { class: 'actions' }, button),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, button, async () => {
      const body = { provider: provider.value, name: name.value.trim(), ...nested([...inputs].map(([k, i]) => [k, i.value])) };
      const created = await ctx.api.post<Channel>('chat-ingress', '/channels', body);
      form.reset();
      drawSpecific();
      onCreated(created);
    });
  });
  return form;
}

/** The secrets of a channel just created: shown this once, with the webhook URL to paste into the provider. */
function createdNotice(c: Channel): HTMLElement {
  return h(
    'div',
    { class: 'once', role: 'region', 'aria-label': `Channel ${c.name} created` },
    h('p', {}, h('strong', {}, `Channel “${c.name}” created.`), ' Paste the webhook URL and token into the provider now: the token is shown only this once.'),
    copyable('Webhook URL', c.webhookUrl, 'webhookUrl'),
    ...Object.entries(c.secrets ?? { verifyToken: c.verifyToken }).map(([k, v]) => copyable(SECRET_LABELS[k] ?? k, v, k)),
  );
}

function settingsForm(ctx: SectionContext, c: Channel, done: () => void): HTMLElement {
  const s = c.settings;
  const text = (k: keyof Settings, v: string | undefined, type = 'text') => h('input', { type, name: `settings.${k}`, value: v ?? '' });
  const area = (k: keyof Settings, v: string | undefined) => {
    const t = h('textarea', { name: `settings.${k}`, rows: 2 });
    t.value = v ?? '';
    return t;
  };
  const check = (k: keyof Settings, v: boolean) => h('input', { type: 'checkbox', name: `settings.${k}`, checked: v });
  const f = {
    name: h('input', { type: 'text', name: 'name', value: c.name }),
    botQueue: text('botQueue', s.botQueue),
    humanQueue: text('humanQueue', s.humanQueue),
    pickupNotice: h(
      'select',
      { name: 'settings.pickupNotice' },
      ...[['none', 'None'], ['simple', 'Simple'], ['with_agent_name', 'With the agent name']].map(([v, t]) => h('option', { value: v!, selected: s.pickupNotice === v }, t!)),
    ),
    pickupMessage: area('pickupMessage', s.pickupMessage),
    notifyOnTransfer: check('notifyOnTransfer', s.notifyOnTransfer),
    transferMessage: area('transferMessage', s.transferMessage),
    notifyOnWaiting: check('notifyOnWaiting', s.notifyOnWaiting),
    waitingMessage: area('waitingMessage', s.waitingMessage),
    closingMessage: area('closingMessage', s.closingMessage),
    maxAttachmentMb: text('maxAttachmentMb', String(s.maxAttachmentMb), 'number'),
    reminderAfterMinutes: text('reminderAfterMinutes', String(s.reminderAfterMinutes), 'number'),
    reminderMessage: area('reminderMessage', s.reminderMessage),
    closeAfterMinutes: text('closeAfterMinutes', String(s.closeAfterMinutes), 'number'),
  };
  const checkbox = (label: string, input: HTMLInputElement, name: string) => {
    input.id = `${name.replace(/\./g, '-')}-${c.id}`;
    return h('div', { class: 'checks' }, h('label', { for: input.id }, input, label), h('div', { class: 'error', role: 'alert', 'data-error-for': name }));
  };
  const button = h('button', { type: 'submit' }, 'Save settings');
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: done }, 'Close');
  const form = h(
    'form',
    { 'aria-label': `Conversation settings of ${c.name}` },
    h('h2', {}, `Settings: ${c.name}`),
    field('Channel name', f.name, 'name'),
    h('div', { class: 'row' }, field('Bot queue', f.botQueue, 'settings.botQueue'), field('Human queue', f.humanQueue, 'settings.humanQueue')),
    h('div', { class: 'row' }, field('Pickup notice', f.pickupNotice, 'settings.pickupNotice'), field('Max attachment (MB)', f.maxAttachmentMb, 'settings.maxAttachmentMb')),
    field('Pickup message ({agent} = the agent name)', f.pickupMessage, 'settings.pickupMessage'),
    checkbox('Notify the customer on transfer', f.notifyOnTransfer, 'settings.notifyOnTransfer'),
    field('Transfer message', f.transferMessage, 'settings.transferMessage'),
    checkbox('Notify the customer while waiting', f.notifyOnWaiting, 'settings.notifyOnWaiting'),
    field('Waiting message', f.waitingMessage, 'settings.waitingMessage'),
    field('Closing message', f.closingMessage, 'settings.closingMessage'),
    h('div', { class: 'row' }, field('Reminder after (minutes, 0 = never)', f.reminderAfterMinutes, 'settings.reminderAfterMinutes'), field('Close after (minutes, 0 = never)', f.closeAfterMinutes, 'settings.closeAfterMinutes')),
    field('Reminder message', f.reminderMessage, 'settings.reminderMessage'),
    formError(),
    h('div', { class: 'actions' }, button, cancel),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, button, async () => {
      const opt = (t: HTMLInputElement | HTMLTextAreaElement) => (t.value.trim() ? t.value : undefined);
      const num = (t: HTMLInputElement) => (t.value.trim() === '' ? undefined : Number(t.value));
      const settings = {
        botQueue: opt(f.botQueue), humanQueue: opt(f.humanQueue), pickupNotice: f.pickupNotice.value, pickupMessage: opt(f.pickupMessage),
        notifyOnTransfer: f.notifyOnTransfer.checked, transferMessage: opt(f.transferMessage), notifyOnWaiting: f.notifyOnWaiting.checked,
        waitingMessage: opt(f.waitingMessage), closingMessage: opt(f.closingMessage), maxAttachmentMb: num(f.maxAttachmentMb),
        reminderAfterMinutes: num(f.reminderAfterMinutes), reminderMessage: opt(f.reminderMessage), closeAfterMinutes: num(f.closeAfterMinutes),
      };
      await ctx.api.patch('chat-ingress', `/channels/${c.id}`, { name: f.name.value.trim() || undefined, settings });
      ctx.notify(`Settings of ${c.name} saved.`);
      done();
    });
  });
  return form;
}

async function channelsCard(ctx: SectionContext): Promise<HTMLElement> {
  const card = h('section', { class: 'card', 'aria-labelledby': 'channels-title' });
  const list = h('div', {});
  const notice = h('div', {});
  const editor = h('div', {});
  const load = async () => {
    const channels = await ctx.api.get<Channel[]>('chat-ingress', '/channels');
    list.replaceChildren(
      table(['Name', 'Provider', 'Status', 'Webhook URL', 'Token', 'Actions'], channels, (c) => [
        c.name,
        PROVIDERS.find((p) => p.id === c.provider)?.title ?? c.provider,
        h('span', { class: c.status === 'active' ? 'status-ok' : 'status-bad' }, c.status),
        h('span', {}, h('code', {}, c.webhookUrl), ' ', copyButton(c.webhookUrl, 'Copy URL')),
        c.token.status ? `${c.token.status}${c.token.error ? ` (${c.token.error})` : ''} · ${when(c.token.checkedAt)}` : '—',
        h(
          'span',
          { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', 'aria-label': `Settings of ${c.name}`, onclick: () => {
            editor.replaceChildren(settingsForm(ctx, c, () => { editor.replaceChildren(); void load(); }));
            editor.querySelector<HTMLElement>('input, select')?.focus();
          } }, 'Settings'),
          c.provider === 'generic' ? null : h('button', { type: 'button', class: 'secondary', 'aria-label': `Check the provider token of ${c.name}`, onclick: async (e: Event) => {
            const b = e.currentTarget as HTMLButtonElement;
            b.disabled = true;
            try {
              const checked = await ctx.api.post<Channel>('chat-ingress', `/channels/${c.id}/refresh-token`);
              ctx.notify(`${c.name}: token ${checked.token.status ?? 'checked'}${checked.token.error ? ` (${checked.token.error})` : ''}.`, checked.token.error ? 'bad' : 'ok');
              await load();
            } catch (err) {
              b.disabled = false;
              ctx.notify(err instanceof Error ? err.message : String(err), 'bad');
            }
          } }, 'Check token'),
          h('button', { type: 'button', class: c.status === 'active' ? 'danger' : 'secondary', 'aria-label': `${c.status === 'active' ? 'Disable' : 'Enable'} ${c.name}`, onclick: async (e: Event) => {
            const b = e.currentTarget as HTMLButtonElement;
            b.disabled = true;
            try {
              await ctx.api.post('chat-ingress', `/channels/${c.id}/${c.status === 'active' ? 'disable' : 'enable'}`);
              ctx.notify(`${c.name} ${c.status === 'active' ? 'disabled: its webhooks are refused' : 'enabled'}.`);
              await load();
            } catch (err) {
              b.disabled = false;
              ctx.notify(err instanceof Error ? err.message : String(err), 'bad');
            }
          } }, c.status === 'active' ? 'Disable' : 'Enable'),
        ),
      ], 'No channel yet: create one below.'),
    );
  };
  await load();
  card.append(
    h('h1', { id: 'channels-title' }, 'Channels'),
    list,
    notice,
    editor,
    createForm(ctx, (c) => {
      notice.replaceChildren(createdNotice(c));
      void load();
      notice.querySelector<HTMLElement>('input')?.focus();
    }),
  );
  return card;
}

export const channels: Section = {
  id: 'channels',
  title: 'Channels and bot flow',
  permissions: ['channels:manage'],
  async render(root, ctx) {
    const [card, flow] = await Promise.all([channelsCard(ctx), flowEditor(ctx)]);
    root.append(card, flow);
  },
};
