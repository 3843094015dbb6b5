/**
 * Operator view of destinations, shared by the CLI (`invoke-api breaker`), `invoke-api status`
 * and the metrics gauges: every host seen with its breaker state, pause and calls in flight;
 * open or close a breaker by hand.
 */
import type { RedisClient } from '../redis.js';
import { createDestinationStore, hostKeys, registryKey } from './store.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface HostStatus {
  host: string;
  breaker: BreakerState;
  /** When an open breaker lets its probe through; null when closed, or open until closed by hand. */
  openUntil: string | null;
  /** Opened by an operator (stays open until closed by hand, or for the time given). */
  manual: boolean;
  /** Paused by a Retry-After until then, or null. */
  pausedUntil: string | null;
  inFlight: number;
  /** Calls and failures counted in the breaker's window; consecutive failures. */
  windowCalls: number;
  windowFailures: number;
  consecutiveFailures: number;
  lastSeen: string;
}

/** Hosts not seen for this long are dropped from the list. */
const FORGET_AFTER_MS = 7 * 24 * 3600 * 1000;

const iso = (ms: number) => new Date(ms).toISOString();

export async function listDestinations(
  redis: RedisClient,
  prefix: string,
  now = Date.now(),
): Promise<HostStatus[]> {
  await redis.zremrangebyscore(registryKey(prefix), '-inf', now - FORGET_AFTER_MS);
  const raw = await redis.zrange(registryKey(prefix), '0', '-1', 'WITHSCORES');
  const out: HostStatus[] = [];
  for (let i = 0; i < raw.length; i += 2)
    out.push(await hostStatus(redis, prefix, raw[i]!, Number(raw[i + 1]), now));
  return out.sort((a, b) => a.host.localeCompare(b.host));
}

export async function hostStatus(
  redis: RedisClient,
  prefix: string,
  host: string,
  lastSeen: number,
  now = Date.now(),
): Promise<HostStatus> {
  const [hash, leases] = hostKeys(prefix, host);
  const [h, inFlight] = await Promise.all([redis.hgetall(hash), redis.zcount(leases, now, '+inf')]);
  const until = Number(h.until ?? 0);
  const pause = Number(h.pause ?? 0);
  let windowCalls = 0;
  let windowFailures = 0;
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('c:')) windowCalls += Number(v);
    if (k.startsWith('f:')) windowFailures += Number(v);
  }
  return {
    host,
    breaker: stateOf(h.state, until, now),
    openUntil: h.state === 'open' && until > 0 ? iso(until) : null,
    manual: h.manual === '1',
    pausedUntil: pause > now ? iso(pause) : null,
    inFlight,
    windowCalls,
    windowFailures,
    consecutiveFailures: Number(h.consec ?? 0),
    lastSeen: iso(lastSeen),
  };
}

/** An open breaker whose time is up is half-open: the next call is the probe. */
function stateOf(state: string | undefined, until: number, now: number): BreakerState {
  if (state === 'half' || (state === 'open' && until > 0 && until <= now)) return 'half-open';
  return state === 'open' ? 'open' : 'closed';
}

/** Opens a host's breaker by hand: every job for it is delayed (not failed) until closed or forMs passes. */
export async function openBreaker(
  redis: RedisClient,
  prefix: string,
  host: string,
  forMs?: number,
): Promise<HostStatus> {
  const h = normaliseHost(host);
  await createDestinationStore(redis, prefix).setState(h, 'open', forMs ?? -1);
  return hostStatus(redis, prefix, h, Date.now());
}

/** Closes a host's breaker (and lifts a Retry-After pause): calls flow again at once. */
export async function closeBreaker(
  redis: RedisClient,
  prefix: string,
  host: string,
): Promise<HostStatus> {
  const h = normaliseHost(host);
  await createDestinationStore(redis, prefix).setState(h, 'closed');
  return hostStatus(redis, prefix, h, Date.now());
}

/** The same host string the worker uses (`url.host`): lower case, default port dropped. */
export function normaliseHost(host: string): string {
  const trimmed = host.trim();
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(trimmed))
    throw new Error(`host: "${host}" is not a host or host:port`);
  try {
    return new URL(`http://${trimmed}`).host;
  } catch {
    throw new Error(`host: "${host}" is not a host or host:port`);
  }
}
