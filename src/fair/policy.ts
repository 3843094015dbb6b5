/**
 * Tenant policy (contract v1.1 section 6.1, docs/fair-share.md): the fair-share weight and the
 * optional concurrency cap and rate of each tenant, read once at start from INVOKE_TENANTS
 * (JSON, or a path to a JSON file) and validated with zod, so a bad field stops the process with
 * its path named, as INVOKE_DESTINATIONS does.
 *
 *   { "default": { "weight": 1 },
 *     "tenants": { "acme": { "weight": 3, "maxConcurrent": 50, "ratePerSecond": 20 } },
 *     "deadlineMs": 3600000 }
 *
 * Jobs without tenantId form one tenant, configured under the key "" (the empty string).
 */
import { z } from 'zod';
import { loadJsonSetting } from '../lib/json-setting.js';
import { TENANT_ID } from '../contract/job.js';

const limitsSchema = z.strictObject({
  weight: z.number().positive().max(1000).optional(),
  maxConcurrent: z.number().int().min(1).max(1_000_000).optional(),
  ratePerSecond: z.number().positive().max(1_000_000).optional(),
});

const tenantKey = z.string().refine((k) => k === '' || TENANT_ID.test(k), {
  message: 'must be a tenantId (^[A-Za-z0-9._-]{1,64}$) or "" for jobs without tenantId',
});

export const tenantsSchema = z.strictObject({
  default: limitsSchema.default({}),
  tenants: z.record(tenantKey, limitsSchema).default({}),
  /** How long after enqueue a job may stay held back by its tenant's limit before RATE_LIMITED. */
  deadlineMs: z.number().int().min(1000).default(3_600_000),
});

export type TenantsInput = z.input<typeof tenantsSchema>;

/** What applies to one tenant; 0 means "no limit". */
export interface TenantLimits {
  weight: number;
  maxConcurrent: number;
  ratePerSecond: number;
}

export interface TenantPolicy {
  deadlineMs: number;
  resolve(tenant: string): TenantLimits;
  /** The default weight and the tenants with another, for the admission script (in Redis). */
  weights(): { fallback: number; own: [string, number][] };
}

/** INVOKE_TENANTS -> policy: '' is the built-in default, '{...}' JSON, else a file path. */
export function loadTenantPolicy(raw: string): TenantPolicy {
  return buildTenantPolicy(loadJsonSetting('INVOKE_TENANTS', raw, tenantsSchema, 'tenants'));
}

export function buildTenantPolicy(cfg: z.output<typeof tenantsSchema>): TenantPolicy {
  const merged = (own: z.output<typeof limitsSchema> | undefined): TenantLimits => {
    const l = { ...cfg.default, ...own };
    return {
      weight: l.weight ?? 1,
      maxConcurrent: l.maxConcurrent ?? 0,
      ratePerSecond: l.ratePerSecond ?? 0,
    };
  };
  const fallback = merged(undefined);
  const own = new Map(Object.entries(cfg.tenants).map(([k, v]) => [k, merged(v)]));
  return {
    deadlineMs: cfg.deadlineMs,
    resolve: (tenant) => own.get(tenant) ?? fallback,
    weights: () => ({
      fallback: fallback.weight,
      own: [...own]
        .map(([t, l]): [string, number] => [t, l.weight])
        .filter(([, w]) => w !== fallback.weight),
    }),
  };
}

/** True when the tenant's jobs need no Redis check before the call. */
export const isUnlimitedTenant = (l: TenantLimits) =>
  l.maxConcurrent === 0 && l.ratePerSecond === 0;
