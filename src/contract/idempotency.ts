/**
 * The idempotency key (runId + stepId + visit, contract section 1) and the BullMQ jobId derived
 * from it. BullMQ ids may not contain ':' and may not be integers, so the id is
 *
 *   "ik." + esc(runId) + "." + esc(stepId) + "." + visit
 *
 * where esc percent-encodes (uppercase %XX of the UTF-8 bytes) every character outside
 * [A-Za-z0-9_-]. '.' and '%' are always escaped, so the three parts can be split back
 * unambiguously: two different keys never give the same id. The same string is the eventId.
 */
export interface KeyParts {
  runId: string;
  stepId: string;
  visit?: number | undefined;
}

const SAFE = /^[A-Za-z0-9_-]*$/;
/** Ids are mostly safe already: skip the encode (computed twice per attempt on the hot path). */
const esc = (s: string): string =>
  SAFE.test(s)
    ? s
    : encodeURIComponent(s).replace(
        /[!'()*.~]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      );

export function idempotencyKey({ runId, stepId, visit = 1 }: KeyParts): string {
  return `ik.${esc(runId)}.${esc(stepId)}.${visit}`;
}

export function parseIdempotencyKey(key: string): KeyParts | undefined {
  const m = /^ik\.([^.]+)\.([^.]+)\.(\d+)$/.exec(key);
  if (!m) return undefined;
  return {
    runId: decodeURIComponent(m[1]!),
    stepId: decodeURIComponent(m[2]!),
    visit: Number(m[3]),
  };
}
