/**
 * What operators see of the fair index: jobs waiting per tenant ('' = jobs without tenantId,
 * shown as "(none)"), largest first, at most `limit` tenants named and the rest summed. One
 * HGETALL of a hash with one field per tenant that has waiting work.
 */
import type { RedisClient } from '../redis.js';
import { fairKeys } from './store.js';

export const NO_TENANT = '(none)';

export interface FairWaiting {
  /** Jobs waiting in the fair index (not yet in BullMQ's wait list). */
  total: number;
  /** Tenants with jobs waiting in the index. */
  tenants: number;
  /** The largest backlogs, largest first. */
  top: { tenant: string; waiting: number }[];
  /** Jobs of the tenants not in `top`. */
  others: number;
}

export async function fairWaiting(
  redis: RedisClient,
  prefix: string,
  queue: string,
  limit = 50,
): Promise<FairWaiting> {
  const raw = await redis.hgetall(fairKeys(prefix, queue).counts);
  const all = Object.entries(raw)
    .map(([t, n]) => ({ tenant: t === '' ? NO_TENANT : t, waiting: Number(n) }))
    .filter((t) => t.waiting > 0)
    .sort((a, b) => b.waiting - a.waiting || a.tenant.localeCompare(b.tenant));
  const total = all.reduce((s, t) => s + t.waiting, 0);
  const top = all.slice(0, limit);
  return {
    total,
    tenants: all.length,
    top,
    others: total - top.reduce((s, t) => s + t.waiting, 0),
  };
}
