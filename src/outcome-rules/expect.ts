/**
 * A step's outcome rules (contract v1.1 section 6.3): does this response count as a success,
 * and if not, is it worth another attempt? `expect.success` defaults to a 2xx status; a
 * response that is not a success is HTTP_STATUS when not 2xx, else UNEXPECTED_RESPONSE, and is
 * retried when `expect.retry` holds (without `retry`, by the status table of section 4).
 *
 * The conditions see `response.status`, `response.headers` (lower-case names, the kept ones)
 * and `response.body` (parsed JSON, or text) of the whole response, before `save.pick`.
 */
import type { InvokeJob } from '../contract/job.js';
import { conditionFor, ConditionError } from './condition.js';

export interface ResponseView {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export type Verdict =
  | { success: true }
  /** `retry` undefined: no rule, the status table decides. */
  | { success: false; retry: boolean | undefined }
  /** A condition failed to evaluate (over its budget, a filter error): `field` names it. */
  | { success: false; broken: { field: 'expect.success' | 'expect.retry'; message: string } };

export const is2xx = (status: number) => status >= 200 && status < 300;

/** Judges one response by the step's rules; never throws. */
export function judge(expect: InvokeJob['expect'], res: ResponseView): Verdict {
  const scope = { response: res };
  let field: 'expect.success' | 'expect.retry' = 'expect.success';
  try {
    const success = expect?.success ? conditionFor(expect.success).test(scope) : is2xx(res.status);
    if (success) return { success: true };
    field = 'expect.retry';
    return {
      success: false,
      retry: expect?.retry ? conditionFor(expect.retry).test(scope) : undefined,
    };
  } catch (err) {
    const message = err instanceof ConditionError ? err.message : 'evaluation failed';
    return { success: false, broken: { field, message } };
  }
}
