/**
 * Per-host destination gauges for /metrics, read from Redis at scrape time (the state is
 * shared by all workers, so any process reports the same values):
 *
 *   invoke_destination_breaker_state{host}  0 closed, 1 half-open, 2 open
 *   invoke_destination_paused{host}         1 while a Retry-After pause holds the host
 *   invoke_destination_in_flight{host}      calls holding a concurrency slot
 *
 * Usage (the metrics route): registerDestinationMetrics(registry, { redis, prefix: cfg.BULLMQ_PREFIX }).
 */
import { Gauge, type Registry } from 'prom-client';
import type { RedisClient } from '../redis.js';
import { listDestinations, type BreakerState, type HostStatus } from './admin.js';

export const BREAKER_STATE_VALUE: Record<BreakerState, number> = {
  closed: 0,
  'half-open': 1,
  open: 2,
};

/** Label cardinality guard: report at most this many hosts (the most recently seen). */
const MAX_HOSTS = 500;
/** One Redis read serves the three gauges of a scrape (prom-client may collect them in parallel). */
const READ_REUSE_MS = 1000;

export function registerDestinationMetrics(
  registry: Registry,
  source: { redis: RedisClient; prefix: string },
): void {
  let last: { at: number; hosts: Promise<HostStatus[]> } | undefined;
  const read = () => {
    if (!last || Date.now() - last.at > READ_REUSE_MS) {
      const hosts = listDestinations(source.redis, source.prefix).then((all) =>
        all.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen)).slice(0, MAX_HOSTS),
      );
      last = { at: Date.now(), hosts };
      hosts.catch(() => (last = undefined));
    }
    return last.hosts;
  };
  const gauge = (name: string, help: string, value: (h: HostStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['host'],
      registers: [registry],
      async collect() {
        const hosts = await read();
        this.reset();
        for (const h of hosts) this.set({ host: h.host }, value(h));
      },
    });
  gauge(
    'invoke_destination_breaker_state',
    'Circuit breaker state per destination host: 0 closed, 1 half-open, 2 open',
    (h) => BREAKER_STATE_VALUE[h.breaker],
  );
  gauge(
    'invoke_destination_paused',
    '1 while a Retry-After (429/503) pause holds the host for every worker',
    (h) => (h.pausedUntil ? 1 : 0),
  );
  gauge(
    'invoke_destination_in_flight',
    'Calls to the host holding a concurrency slot, across all workers',
    (h) => h.inFlight,
  );
}
