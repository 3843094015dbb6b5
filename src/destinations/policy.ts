/**
 * Destination policy (docs/destinations.md): per-host rate limit, concurrency cap and circuit
 * breaker, read once at start from INVOKE_DESTINATIONS (JSON, or a path to a JSON file) and
 * validated with zod so a bad field stops the process with its path named.
 *
 * A host entry is keyed by `host`, `host:port` or a `*.domain` glob; its fields override the
 * `default` entry field by field. Limits apply to each destination (URL host with its port when
 * the port is not the scheme's default) separately, also when a glob selected the policy.
 */
import { z } from 'zod';
import { loadJsonSetting } from '../lib/json-setting.js';
import { hostMatches } from '../http/egress.js';

/** Convoy's defaults (>= 70 % failures of >= 10 calls in 5 min, open 30 s) plus 20 in a row. */
export const BREAKER_DEFAULTS = {
  consecutiveFailures: 20,
  failureRatio: 0.7,
  minCalls: 10,
  windowMs: 300_000,
  openMs: 30_000,
} as const;

const breakerSchema = z.strictObject({
  consecutiveFailures: z.number().int().min(0).optional(),
  failureRatio: z.number().gt(0).max(1).optional(),
  minCalls: z.number().int().min(1).optional(),
  windowMs: z.number().int().min(1000).optional(),
  openMs: z.number().int().min(100).optional(),
});

const limitsSchema = z.strictObject({
  ratePerSecond: z.number().positive().max(1_000_000).optional(),
  burst: z.number().int().min(1).max(1_000_000).optional(),
  maxConcurrent: z.number().int().min(1).max(1_000_000).optional(),
  breaker: z.union([z.literal(false), breakerSchema]).optional(),
});

const hostKey = z
  .string()
  .regex(
    /^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/,
    'must be a lower-case host, host:port or *.domain glob',
  );

export const destinationsSchema = z.strictObject({
  default: limitsSchema.default({}),
  hosts: z.record(hostKey, limitsSchema).default({}),
  /** How long after enqueue a job may stay held back before it fails RATE_LIMITED / CIRCUIT_OPEN. */
  deadlineMs: z.number().int().min(1000).default(3_600_000),
});

export type DestinationsInput = z.input<typeof destinationsSchema>;
type Limits = z.output<typeof limitsSchema>;

export interface Breaker {
  consecutiveFailures: number;
  failureRatio: number;
  minCalls: number;
  windowMs: number;
  openMs: number;
}

/** The limits that apply to one destination; 0 means "no limit". */
export interface HostPolicy {
  ratePerSecond: number;
  burst: number;
  maxConcurrent: number;
  breaker: Breaker | false;
  /** Which entry matched: an exact key, a glob, or "default". */
  matched: string;
}

export interface DestinationPolicy {
  deadlineMs: number;
  /** Policy for a URL host (`url.host`: hostname plus non-default port). Cached per host. */
  resolve(host: string): HostPolicy;
}

/** INVOKE_DESTINATIONS -> policy: '' is the built-in default, '{...}' JSON, else a file path. */
export function loadDestinationPolicy(raw: string): DestinationPolicy {
  return buildPolicy(loadJsonSetting('INVOKE_DESTINATIONS', raw, destinationsSchema, 'hosts'));
}

export function buildPolicy(cfg: z.output<typeof destinationsSchema>): DestinationPolicy {
  const exact = new Map(Object.entries(cfg.hosts).filter(([k]) => !k.startsWith('*.')));
  // Longest glob first, so *.eu.partner.com wins over *.partner.com.
  const globs = Object.entries(cfg.hosts)
    .filter(([k]) => k.startsWith('*.'))
    .sort((a, b) => b[0].length - a[0].length);
  const cache = new Map<string, HostPolicy>();

  function pick(host: string): [string, Limits | undefined] {
    const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const hit = exact.get(host) ?? exact.get(name) ?? exact.get(`[${name}]`);
    if (hit) return [exact.has(host) ? host : name, hit];
    const glob = globs.find(([g]) => hostMatches(g, name));
    return glob ?? ['default', undefined];
  }

  return {
    deadlineMs: cfg.deadlineMs,
    resolve(rawHost) {
      const host = rawHost.toLowerCase();
      let p = cache.get(host);
      if (!p) {
        const [matched, own] = pick(host);
        p = merge(cfg.default, own, matched);
        if (cache.size > 10_000) cache.clear();
        cache.set(host, p);
      }
      return p;
    },
  };
}

function merge(base: Limits, own: Limits | undefined, matched: string): HostPolicy {
  const l = { ...base, ...own };
  const breakerOff =
    own?.breaker === false || (own?.breaker === undefined && base.breaker === false);
  const breaker = breakerOff
    ? false
    : { ...BREAKER_DEFAULTS, ...(base.breaker || {}), ...(own?.breaker || {}) };
  return {
    ratePerSecond: l.ratePerSecond ?? 0,
    burst: l.burst ?? 1,
    maxConcurrent: l.maxConcurrent ?? 0,
    breaker,
    matched,
  };
}

/** True when nothing about this host needs Redis (no limits, breaker off). */
export const isUnlimited = (p: HostPolicy) =>
  p.ratePerSecond === 0 && p.maxConcurrent === 0 && p.breaker === false;
