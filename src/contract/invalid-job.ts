/**
 * Validation at the producers' boundaries (client, HTTP API, dry run): the same schema the
 * worker uses, and one error class that carries zod's issues, so every surface can name the
 * offending path (contract section 1: "rejects bad input with an error that names the path").
 */
import type { z } from 'zod';
import { invokeJobSchema, type InvokeJob } from './job.js';
import { literalCredentialIssues } from './literal-credentials.js';

import type { JobIssue } from './job-issue.js';

export type { JobIssue };

export class InvalidJobError extends Error {
  override name = 'InvalidJobError';
  readonly code = 'INVALID_JOB' as const;
  readonly issues: JobIssue[];

  constructor(issues: JobIssue[]) {
    // The message lists the first issues only: a batch of 1,000 bad jobs stays readable.
    const shown = issues.slice(0, 20).map((i) => `${i.path}: ${i.message}`);
    if (issues.length > shown.length) shown.push(`... and ${issues.length - shown.length} more`);
    super(`INVALID_JOB: ${shown.join('; ')}`);
    this.issues = issues;
  }

  /** `where` prefixes every path (e.g. "[3]" for the fourth job of a batch). */
  static fromZod(error: z.ZodError, where = ''): InvalidJobError {
    return new InvalidJobError(
      error.issues.map((i) => ({
        path: joinPath(where, i.path),
        code: i.code,
        message: i.message,
      })),
    );
  }
}

const joinPath = (where: string, path: PropertyKey[]) =>
  [where, ...path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
    .filter(Boolean)
    .join('.')
    .replace(/\.\[/g, '[') || '(root)';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Parses job data (defaults applied) or throws InvalidJobError naming each bad path. Literal
 * credentials in headers are refused unless allowed (contract/literal-credentials.ts).
 */
export function parseJob(
  input: unknown,
  where = '',
  opts: { allowLiteralCredentials?: boolean } = {},
): InvokeJob {
  const parsed = invokeJobSchema.safeParse(input);
  if (!parsed.success) throw InvalidJobError.fromZod(parsed.error, where);
  if (!opts.allowLiteralCredentials) {
    const literal = literalCredentialIssues(parsed.data, where);
    if (literal.length > 0) throw new InvalidJobError(literal);
  }
  // A lone UTF-16 surrogate cannot be percent-encoded into the jobId (encodeURIComponent throws).
  for (const field of ['runId', 'stepId'] as const) {
    if (LONE_SURROGATE.test(parsed.data[field]))
      throw new InvalidJobError([
        {
          path: joinPath(where, [field]),
          code: 'invalid_string',
          message: 'must be well-formed Unicode (no lone surrogates)',
        },
      ]);
  }
  return parsed.data;
}
