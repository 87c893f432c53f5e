import { ApiError } from '../api';
import type { Section, SectionContext } from '../section';
import { copyButton, field, h, pre, table } from '../dom';
import { formError, submitting } from '../forms';

/** What telephony-bridge answers for a PBX profile (secrets masked). */
interface Profile {
  id: string;
  name: string;
  preset: 'generic-http' | 'asterisk-ari' | 'custom';
  allowedCidrs: string[];
  callbackToken: string | null;
  chave: string | null;
  pbxHost: string | null;
  click2call: unknown;
  recording: unknown;
  callbacks: { answered: string; ended: string };
  createdAt: string;
  updatedAt: string;
}

interface Preset {
  id: 'generic-http' | 'asterisk-ari';
  title: string;
  description: string;
  fields: Array<{ name: string; required: boolean; description: string }>;
  example: { baseUrl: string; click2call: unknown; recording: unknown };
}

const lines = (text: string): string[] =>
  text
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** A JSON template textarea; a value that is not JSON is reported beside it, not sent. */
function jsonArea(name: string, value: unknown): HTMLTextAreaElement {
  const t = h('textarea', { name, rows: 8, spellcheck: 'false' });
  t.value = value === null || value === undefined ? '' : JSON.stringify(value, null, 2);
  return t;
}

function parseJson(t: HTMLTextAreaElement): unknown {
  if (!t.value.trim()) return undefined;
  try {
    return JSON.parse(t.value) as unknown;
  } catch (e) {
    throw new ApiError({ status: 400, detail: 'a template is not valid JSON', errors: [{ field: t.name, message: `not valid JSON: ${(e as Error).message}` }] });
  }
}

const PRESET_FIELDS: Record<string, [string, string, string]> = {
  baseUrl: ['Base URL', 'url', 'http://10.0.0.5:8088'],
  chave: ['PBX key (chave; Asterisk: user:password)', 'password', ''],
  pbxHost: ['PBX host on a private network (name or IP)', 'text', '10.0.0.5'],
  ariContext: ['Dialplan context', 'text', 'from-internal'],
  ariEndpoint: ['Endpoint template', 'text', 'PJSIP/{ramal}'],
};

function createForm(ctx: SectionContext, presets: Preset[], onCreated: () => Promise<void>): HTMLElement {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100 });
  const preset = h(
    'select',
    { name: 'preset' },
    ...presets.map((p) => h('option', { value: p.id }, p.title)),
    h('option', { value: 'custom' }, 'Custom templates'),
  );
  const cidrs = h('textarea', { name: 'allowedCidrs', rows: 2, placeholder: '203.0.113.0/24\n198.51.100.7' });
  const callbackToken = h('input', { type: 'password', name: 'callbackToken', autocomplete: 'new-password', minlength: 16 });
  const about = h('p', { class: 'muted' });
  const specific = h('div', {});
  const inputs = new Map<string, HTMLInputElement>();
  const c2c = jsonArea('click2call', undefined);
  const rec = jsonArea('recording', undefined);
  const templates = h('div', {}, field('Click2Call template (JSON: request + callId)', c2c, 'click2call'), field('Recording template (JSON: request)', rec, 'recording'));
  const draw = () => {
    const p = presets.find((x) => x.id === preset.value);
    inputs.clear();
    about.textContent = p ? p.description : 'Write the request templates yourself (tokens {ramal}, {telefone}, {chave}, {callid}).';
    const names = p ? p.fields.map((f) => f.name) : ['chave', 'pbxHost'];
    specific.replaceChildren(
      ...names.map((n) => {
        const [label, type, hint] = PRESET_FIELDS[n] ?? [n, 'text', ''];
        const def = p?.fields.find((f) => f.name === n);
        const input = h('input', { type, name: n, placeholder: hint, required: def?.required, autocomplete: type === 'password' ? 'new-password' : 'off' });
        inputs.set(n, input);
        return field(`${label}${def?.required ? '' : ' (optional)'}`, input, n);
      }),
    );
    templates.hidden = !!p;
    if (!p && !c2c.value) {
      const example = presets[0]?.example;
      c2c.value = example ? JSON.stringify(example.click2call, null, 2) : '';
      rec.value = example ? JSON.stringify(example.recording, null, 2) : '';
    }
  };
  preset.addEventListener('change', draw);
  draw();
  const button = h('button', { type: 'submit' }, 'Create profile');
  const form = h(
    'form',
    { 'aria-labelledby': 'pbx-new' },
    h('h2', { id: 'pbx-new' }, 'New PBX profile'),
    h('div', { class: 'row' }, field('Name', name, 'name'), field('Preset', preset, 'preset')),
    about,
    specific,
    templates,
    field('Allowed callback addresses (IP or CIDR, one a line)', cidrs, 'allowedCidrs'),
    field('Callback token the PBX sends (optional, at least 16 characters)', callbackToken, 'callbackToken'),
    formError(),
    h('div', { class: 'actions' }, button),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, button, async () => {
      const body: Record<string, unknown> = { name: name.value.trim(), preset: preset.value, allowedCidrs: lines(cidrs.value) };
      for (const [k, i] of inputs) if (i.value.trim()) body[k] = i.value.trim();
      if (callbackToken.value) body.callbackToken = callbackToken.value;
      if (preset.value === 'custom') {
        body.click2call = parseJson(c2c);
        body.recording = parseJson(rec);
      }
      await ctx.api.post('telephony-bridge', '/pbx-profiles', body);
      ctx.notify(`PBX profile ${name.value.trim()} created.`);
      form.reset();
      draw();
      await onCreated();
    });
  });
  return form;
}

function editForm(ctx: SectionContext, p: Profile, done: (changed: boolean) => void): HTMLElement {
  const name = h('input', { type: 'text', name: 'name', value: p.name });
  const cidrs = h('textarea', { name: 'allowedCidrs', rows: 3 });
  cidrs.value = p.allowedCidrs.join('\n');
  const chave = h('input', { type: 'password', name: 'chave', autocomplete: 'new-password', placeholder: p.chave ? `${p.chave} (kept when empty)` : '' });
  const callbackToken = h('input', { type: 'password', name: 'callbackToken', autocomplete: 'new-password', placeholder: p.callbackToken ? `${p.callbackToken} (kept when empty)` : '' });
  const pbxHost = h('input', { type: 'text', name: 'pbxHost', value: p.pbxHost ?? '' });
  const c2c = jsonArea('click2call', p.click2call);
  const rec = jsonArea('recording', p.recording);
  const button = h('button', { type: 'submit' }, 'Save profile');
  const form = h(
    'form',
    { 'aria-label': `Edit PBX profile ${p.name}` },
    h('h2', {}, `Edit: ${p.name}`),
    h('div', { class: 'row' }, field('Name', name, 'name'), field('PBX host (private network)', pbxHost, 'pbxHost')),
    field('Allowed callback addresses (IP or CIDR, one a line)', cidrs, 'allowedCidrs'),
    h('div', { class: 'row' }, field('PBX key (chave)', chave, 'chave'), field('Callback token', callbackToken, 'callbackToken')),
    field('Click2Call template (JSON: request + callId)', c2c, 'click2call'),
    field('Recording template (JSON: request)', rec, 'recording'),
    formError(),
    h('div', { class: 'actions' }, button, h('button', { type: 'button', class: 'secondary', onclick: () => done(false) }, 'Close')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitting(form, button, async () => {
      const body: Record<string, unknown> = { name: name.value.trim(), allowedCidrs: lines(cidrs.value), pbxHost: pbxHost.value.trim() || null };
      if (chave.value) body.chave = chave.value;
      if (callbackToken.value) body.callbackToken = callbackToken.value;
      const click2call = parseJson(c2c);
      const recording = parseJson(rec);
      if (click2call !== undefined) body.click2call = click2call;
      if (recording !== undefined) body.recording = recording;
      await ctx.api.patch('telephony-bridge', `/pbx-profiles/${p.id}`, body);
      ctx.notify(`PBX profile ${p.name} saved.`);
      done(true);
    });
  });
  return form;
}

/** "Send a test Click2Call": POST /calls, showing the call id or the PBX's error. */
function testCall(ctx: SectionContext, profiles: Profile[]): HTMLElement {
  const profile = h('select', { name: 'profileId' }, ...profiles.map((p) => h('option', { value: p.id }, p.name)));
  const ramal = h('input', { type: 'text', name: 'ramal', inputmode: 'numeric', placeholder: '1001', required: true });
  const telefone = h('input', { type: 'tel', name: 'telefone', placeholder: '41988445566', required: true });
  const result = h('div', { 'aria-live': 'polite', 'data-call-result': '' });
  const button = h('button', { type: 'submit' }, 'Send test Click2Call');
  const form = h(
    'form',
    { 'aria-labelledby': 'pbx-test' },
    h('h2', { id: 'pbx-test' }, 'Test Click2Call'),
    h('p', { class: 'muted' }, 'The PBX rings the extension, then dials the number: a real call.'),
    h('div', { class: 'row' }, profiles.length ? field('Profile', profile, 'profileId') : null, field('Extension (ramal)', ramal, 'ramal'), field('Customer phone', telefone, 'telefone')),
    formError(),
    h('div', { class: 'actions' }, button),
    result,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    result.replaceChildren();
    void submitting(form, button, async () => {
      try {
        const started = await ctx.api.post<{ callId: string; profileId: string }>('telephony-bridge', '/calls', {
          ramal: ramal.value.trim(),
          telefone: telefone.value.trim(),
          profileId: profile.value || undefined,
        });
        result.replaceChildren(h('p', { class: 'notice' }, 'Call started: id ', h('code', { 'data-call-id': started.callId }, started.callId), ' ', copyButton(started.callId, 'Copy id')));
      } catch (err) {
        // The PBX's own answer (502) or a refused address is the thing to read here, not only a form error.
        if (err instanceof ApiError && !err.problem.errors?.length) {
          result.replaceChildren(h('div', { class: 'notice bad', role: 'alert' }, h('strong', {}, `HTTP ${err.status}: `), err.message));
          return;
        }
        throw err;
      }
    });
  });
  return form;
}

export const telephony: Section = {
  id: 'telephony',
  title: 'Telephony',
  permissions: ['telephony:manage', 'telephony:call'],
  async render(root, ctx) {
    const manage = ctx.can('telephony:manage');
    const card = h('section', { class: 'card', 'aria-labelledby': 'pbx-title' }, h('h1', { id: 'pbx-title' }, 'Telephony'));
    root.append(card);
    if (!manage) {
      // Without telephony:manage the profiles are not listed; the call goes to the tenant's first profile.
      card.append(testCall(ctx, []));
      return;
    }
    const [presets, initial] = await Promise.all([
      ctx.api.get<Preset[]>('telephony-bridge', '/telephony/presets'),
      ctx.api.get<Profile[]>('telephony-bridge', '/pbx-profiles'),
    ]);
    const list = h('div', {});
    const editor = h('div', {});
    const tester = h('div', {});
    const draw = (profiles: Profile[]) => {
      list.replaceChildren(
        table(['Name', 'Preset', 'Allowed addresses', 'Callbacks', 'Actions'], profiles, (p) => [
          p.name,
          p.preset,
          p.allowedCidrs.length ? p.allowedCidrs.join(', ') : h('span', { class: 'status-bad' }, 'none: every callback is refused'),
          h('span', {}, h('code', {}, p.callbacks.answered), h('br', {}), h('code', {}, p.callbacks.ended)),
          h(
            'span',
            { class: 'actions' },
            h('button', { type: 'button', class: 'secondary', 'aria-label': `Edit ${p.name}`, onclick: () => {
              editor.replaceChildren(editForm(ctx, p, (changed) => {
                editor.replaceChildren();
                if (changed) void reload();
              }));
              editor.querySelector<HTMLElement>('input')?.focus();
            } }, 'Edit'),
            h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${p.name}`, onclick: async () => {
              if (!confirm(`Delete the PBX profile ${p.name}?`)) return;
              try {
                await ctx.api.del('telephony-bridge', `/pbx-profiles/${p.id}`);
                ctx.notify(`PBX profile ${p.name} deleted.`);
                await reload();
              } catch (err) {
                ctx.notify(err instanceof Error ? err.message : String(err), 'bad');
              }
            } }, 'Delete'),
          ),
        ], 'No PBX profile yet: create one below.'),
        h('p', { class: 'muted' }, 'Callback paths are on telephony-bridge; the PBX calls them from an allowed address, with the callback token when one is set.'),
      );
      tester.replaceChildren(ctx.can('telephony:call') ? testCall(ctx, profiles) : '');
    };
    const reload = async () => draw(await ctx.api.get<Profile[]>('telephony-bridge', '/pbx-profiles'));
    draw(initial);
    const presetsInfo = h(
      'details',
      {},
      h('summary', {}, 'What the presets fill in'),
      ...presets.map((p) => h('div', {}, h('h3', {}, p.title), h('p', {}, p.description), pre({ click2call: p.example.click2call, recording: p.example.recording }))),
    );
    card.append(list, editor, tester, createForm(ctx, presets, reload), presetsInfo);
  },
};
