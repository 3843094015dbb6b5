/**
 * The closed set of error codes (contract section 4) and how each is retried.
 * retryPolicy ends in assertNever, so a new code does not compile until its retry is decided.
 */
export const ERROR_CODES = [
  'INVALID_JOB',
  'TEMPLATE_ERROR',
  'URL_BLOCKED',
  'DNS_ERROR',
  'CONNECT_ERROR',
  'TIMEOUT',
  'HTTP_STATUS',
  'RESPONSE_TOO_LARGE',
  'RATE_LIMITED',
  'CIRCUIT_OPEN',
  'EXPIRED',
  'DISCARDED',
  'AUTH_ERROR',
  'UNEXPECTED_RESPONSE',
  'CALLBACK_TIMEOUT',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** RFC 9110 / 6585 statuses worth another attempt (contract section 4). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * 'if-temporary': the code alone does not decide; the error says (DNS: EAI_AGAIN vs ENOTFOUND;
 * AUTH_ERROR: a refused credential vs a token endpoint that failed).
 * 'by-rule': UNEXPECTED_RESPONSE is retried only when the step's expect.retry holds.
 */
export type RetryPolicy = 'never' | 'always' | 'by-status' | 'if-temporary' | 'by-rule' | 'delay';

export function retryPolicy(code: ErrorCode): RetryPolicy {
  switch (code) {
    case 'INVALID_JOB':
    case 'TEMPLATE_ERROR':
    case 'URL_BLOCKED':
    case 'RESPONSE_TOO_LARGE':
    case 'EXPIRED':
    case 'DISCARDED':
    case 'CALLBACK_TIMEOUT':
      return 'never';
    case 'CONNECT_ERROR':
    case 'TIMEOUT':
      return 'always';
    case 'HTTP_STATUS':
      return 'by-status';
    case 'DNS_ERROR':
    case 'AUTH_ERROR':
      return 'if-temporary';
    case 'UNEXPECTED_RESPONSE':
      return 'by-rule';
    case 'RATE_LIMITED':
    case 'CIRCUIT_OPEN':
      return 'delay';
    default:
      return assertNever(code);
  }
}

export function assertNever(x: never): never {
  throw new Error(`unhandled value ${String(x)}`);
}

/**
 * The one error type that leaves our code. Its message names host and path only and has
 * been scrubbed of secrets; it never wraps a got error (whose options carry headers and body).
 */
export class InvokeError extends Error {
  override name = 'InvokeError';
  readonly code: ErrorCode;
  /** The message without its code prefix: what envelopes, events and operators show. */
  readonly detail: string;
  readonly retryable: boolean;
  readonly status: number | null;
  /** From Retry-After on 429/503, already capped. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryable?: boolean; status?: number | null; retryAfterMs?: number } = {},
  ) {
    // BullMQ keeps message as failedReason: people read the code there; code reads it from the
    // stack (queue/failure-facts.ts).
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
    this.status = opts.status ?? null;
    this.retryAfterMs = opts.retryAfterMs;
    this.retryable = opts.retryable ?? defaultRetryable(code, this.status);
    // The stack is ours (file paths only); BullMQ stores it, so keep it free of foreign frames' data.
    this.stack = `${this.name}: ${this.message}`;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.detail, retryable: this.retryable };
  }
}

function defaultRetryable(code: ErrorCode, status: number | null): boolean {
  const policy = retryPolicy(code);
  if (policy === 'by-status') return status !== null && RETRYABLE_STATUSES.has(status);
  return policy === 'always' || policy === 'delay';
}

export const isInvokeError = (e: unknown): e is InvokeError => e instanceof InvokeError;
