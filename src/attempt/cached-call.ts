/**
 * The bridge between an attempt's outcome and the response cache (src/cache/): what of a
 * success is kept (status, kept headers, the body after save.pick) and how a kept entry becomes
 * the outcome of a job that did not call. Only a success is kept: `expect` has already judged.
 */
import type { InvokeJob } from '../contract/job.js';
import type { ResponseCache } from '../cache/response-cache.js';
import type { Outcome } from './classify.js';

export async function cachedCall(
  cache: ResponseCache,
  job: InvokeJob & { cache: NonNullable<InvokeJob['cache']> },
  renderedKey: string,
  carriedSecret: boolean,
  call: () => Promise<Outcome>,
): Promise<Outcome> {
  const { result, use } = await cache.through(
    job,
    renderedKey,
    carriedSecret,
    call,
    (o) => (o.ok ? { status: o.status, headers: o.headers, body: o.body } : undefined),
    (e): Outcome => ({
      ok: true,
      status: e.status,
      body: e.body,
      truncated: false,
      headers: e.headers,
      error: undefined,
    }),
  );
  result.cache = use;
  return result;
}
