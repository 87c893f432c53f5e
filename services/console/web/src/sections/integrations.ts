import type { Section } from '../section';

export const integrations: Section = {
  id: 'integrations',
  title: 'Integrations',
  permissions: ['integrations:manage', 'integrations:read'],
  render(root, { dom: { h } }) {
    root.append(h('section', { class: 'card' }, h('h1', {}, 'Integrations')));
  },
};
