/**
 * Where a step's cached result lives (contract v1.1 section 6.4): scoped to tenant + journeyId
 * + stepId + rendered key, so no tenant, journey or step can ever read another's entry.
 *
 *   <prefix>:e:<H(journeyId, stepId)>:<H(tenantId)>:<H(rendered key)>   the result (string, PX)
 *   <prefix>:l:<same three>                                             the single-flight lock
 *   <prefix>:idx    zset entry key -> expiry (ms)   \
 *   <prefix>:size   hash entry key -> bytes          > the memory budget's books (store.ts)
 *   <prefix>:bytes  total bytes of live entries     /
 *
 * Each part is a SHA-256 (hex, cut to 32 characters for the scope parts): ids and keys of any
 * characters give fixed-length names with no ':' or glob characters in them, so
 * `cache clear --journey J --step S [--tenant T]` is one MATCH pattern over the index, and a
 * customer value in the key (an email address) is not readable from a key listing.
 * The prefix holds a Redis Cluster hash tag (`{invoke:cache}` by default): the budget's books
 * and every entry live in one slot, so each put and eviction is one atomic script.
 */
import { createHash } from 'node:crypto';

export interface CacheScope {
  tenantId?: string | undefined;
  journeyId: string;
  stepId: string;
}

const h = (parts: string[], length = 64) => {
  const hash = createHash('sha256');
  // Length-prefixed, so ('ab', 'c') and ('a', 'bc') never collide.
  for (const p of parts) hash.update(`${Buffer.byteLength(p)}:${p}`);
  return hash.digest('hex').slice(0, length);
};

export const stepPart = (journeyId: string, stepId: string) => h([journeyId, stepId], 32);
// A job without tenantId is the single-tenant deployment: its own scope, never a tenant's.
export const tenantPart = (tenantId: string | undefined) =>
  h(tenantId === undefined ? ['-'] : ['t', tenantId], 32);

export interface EntryKeys {
  entry: string;
  lock: string;
}

export function entryKeys(prefix: string, scope: CacheScope, renderedKey: string): EntryKeys {
  const id = `${stepPart(scope.journeyId, scope.stepId)}:${tenantPart(scope.tenantId)}:${h([renderedKey])}`;
  return { entry: `${prefix}:e:${id}`, lock: `${prefix}:l:${id}` };
}

export const bookKeys = (prefix: string) => ({
  idx: `${prefix}:idx`,
  size: `${prefix}:size`,
  bytes: `${prefix}:bytes`,
});

/** MATCH pattern over the index for one step's entries (all tenants when tenantId is absent). */
export function stepPattern(
  prefix: string,
  journeyId: string,
  stepId: string,
  tenantId?: string,
): string {
  const tenant = tenantId === undefined ? '*' : `${tenantPart(tenantId)}:*`;
  return `${globEscape(prefix)}:e:${stepPart(journeyId, stepId)}:${tenant}`;
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');
