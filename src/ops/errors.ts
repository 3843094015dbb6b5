/**
 * What an operator call refuses, typed by kind so each surface maps the kind, never the
 * message: HTTP answers 400 / 404 / 409 (api/routes/ops.ts), the CLI exits with its usage or
 * problem code (cli/context.ts). Messages name the field or the job and say what to do.
 */
export type OpsErrorKind = 'bad-input' | 'not-found' | 'conflict';

export class OpsError extends Error {
  override name = 'OpsError';

  constructor(
    readonly kind: OpsErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** A value an operator typed (a duration, a status, a tenant) is not one: the message names it. */
export const badInput = (message: string) => new OpsError('bad-input', message);
