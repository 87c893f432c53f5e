/**
 * Raised for a template that cannot be rendered safely: a missing value (under the 'error' rule), a
 * bad path, a value that would change the structure it lands in. The message names the token,
 * never the value (values may be secrets).
 */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';

  constructor(
    message: string,
    readonly token?: string,
  ) {
    super(message);
  }
}
