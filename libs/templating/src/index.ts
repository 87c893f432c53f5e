export { TemplateError } from './template-error';
export { lookupPath } from './path';
export { buildFromBracketKeys } from './bracket-keys';
export { HEADER_INVALID, listTokens, type Escaping, type MissingTokenRule, type RenderOptions } from './render';
export { renderTemplate } from './template';
export { renderUrl } from './url-template';
export {
  escapingForContentType,
  parseHeaderLines,
  renderRequest,
  type RenderedRequest,
  type RequestTemplate,
} from './request';
