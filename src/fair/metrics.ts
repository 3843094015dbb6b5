/**
 * Fair-share gauges for /metrics, read from Redis at scrape time (shared by all workers):
 *
 *   invoke_fair_waiting_jobs{tenant}   jobs waiting in the fair index, for the MAX_TENANTS
 *                                      largest backlogs; the rest summed as tenant="(other)"
 *   invoke_fair_tenants_waiting        tenants with jobs waiting in the index
 *
 * The label set is bounded (MAX_TENANTS + 1) whatever the number of tenants.
 */
import { Gauge, type Registry } from 'prom-client';
import type { RedisClient } from '../redis.js';
import { fairWaiting, type FairWaiting } from './report.js';

export const MAX_TENANTS = 50;
export const OTHER = '(other)';
const READ_REUSE_MS = 1000;

export function registerFairMetrics(
  registry: Registry,
  source: { redis: RedisClient; prefix: string; queue: string },
): void {
  let last: { at: number; read: Promise<FairWaiting> } | undefined;
  const read = () => {
    if (!last || Date.now() - last.at > READ_REUSE_MS) {
      const r = fairWaiting(source.redis, source.prefix, source.queue, MAX_TENANTS);
      last = { at: Date.now(), read: r };
      r.catch(() => (last = undefined));
    }
    return last.read;
  };
  new Gauge({
    name: 'invoke_fair_waiting_jobs',
    help: `Jobs waiting in the fair-share index per tenant (the ${MAX_TENANTS} largest; the rest as tenant="${OTHER}")`,
    labelNames: ['tenant'],
    registers: [registry],
    async collect() {
      const w = await read();
      this.reset();
      for (const t of w.top) this.set({ tenant: t.tenant }, t.waiting);
      if (w.others > 0) this.set({ tenant: OTHER }, w.others);
    },
  });
  new Gauge({
    name: 'invoke_fair_tenants_waiting',
    help: 'Tenants with jobs waiting in the fair-share index',
    registers: [registry],
    async collect() {
      this.set((await read()).tenants);
    },
  });
}
