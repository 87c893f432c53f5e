import type { Section } from '../section';

export const keys: Section = {
  id: 'keys',
  title: 'Keys and audit',
  permissions: ['keys:manage', 'audit:read'],
  render(root, { dom: { h } }) {
    root.append(h('section', { class: 'card' }, h('h1', {}, 'Keys and audit')));
  },
};
