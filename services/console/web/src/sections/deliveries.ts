import type { Section } from '../section';

export const deliveries: Section = {
  id: 'deliveries',
  title: 'Deliveries',
  permissions: ['integrations:manage', 'integrations:read'],
  render(root, { dom: { h } }) {
    root.append(h('section', { class: 'card' }, h('h1', {}, 'Deliveries')));
  },
};
