/**
 * Which secrets a job's templates see (contract v1.1 section 6.1), for the processor and the
 * dry run:
 *   - no tenantId: the platform secrets (INVOKE_SECRET_<NAME>), exactly as in v1;
 *   - tenantId T: T's own secrets from the vault, then the platform secrets whose
 *     INVOKE_SECRET_<NAME>_TENANTS lists T or '*'. A tenant secret wins over a platform one of
 *     the same name; another tenant's secrets are never loaded.
 *
 * A tenant's view is cached per process for INVOKE_SECRETS_CACHE_MS (one HGETALL and the
 * decryptions per tenant per period, not per job), so a changed or deleted secret takes effect
 * in every worker within that time. A record that does not decrypt is kept in the view as
 * `broken`: a job that uses it fails with a permanent TEMPLATE_ERROR naming the secret
 * (jobs that do not use it are unaffected), and never falls back to a platform secret of that name.
 */
import type { Secret } from '../config.js';
import { InvokeError } from '../contract/errors.js';
import { createScrubber, type Scrubber } from '../template/secrets.js';
import type { Vault } from '../vault/index.js';
import { SECRET_KIND } from './secrets.js';

export interface SecretsView {
  secrets: ReadonlyMap<string, Secret>;
  /** Scrubs every value of this view (raw and encoded spellings) from outgoing text. */
  scrub: Scrubber;
  /** Names of tenant secrets that did not decrypt, with why (never a value). */
  broken: ReadonlyMap<string, string>;
}

export interface ResolverOptions {
  vault: Vault | undefined;
  platform: ReadonlyMap<string, Secret>;
  /**
   * The process-wide scrubber (built at start from the platform secrets): every tenant value
   * loaded is added to it too, so whatever it guards (job logs, attempt records, envelopes)
   * never holds a tenant secret either, whichever path the text takes.
   */
  platformScrub?: Scrubber;
  cacheMs: number;
  /** Bound on cached tenant views (least recently loaded dropped first). */
  maxTenants?: number;
  now?: () => number;
}

export function createSecretsResolver(opts: ResolverOptions) {
  const { vault, platform, cacheMs } = opts;
  const now = opts.now ?? Date.now;
  const maxTenants = opts.maxTenants ?? 10_000;
  const platformView: SecretsView = {
    secrets: platform,
    scrub: opts.platformScrub ?? createScrubber(platform),
    broken: new Map(),
  };
  const shared = [...platform.values()].filter((s) => s.tenants && s.tenants.length > 0);
  const cache = new Map<string, { at: number; view: Promise<SecretsView> }>();
  const known = new Set<string>();
  /** New values only: each add makes the shared scrubber rebuild its patterns once. */
  const teach = (values: string[]) => {
    const fresh = values.filter((v) => v !== '' && !known.has(v));
    if (fresh.length === 0) return;
    for (const v of fresh) known.add(v);
    platformView.scrub.add(...fresh);
  };

  async function load(tenantId: string): Promise<SecretsView> {
    const secrets = new Map<string, Secret>();
    for (const s of shared)
      if (s.tenants!.includes('*') || s.tenants!.includes(tenantId)) secrets.set(s.name, s);
    const broken = new Map<string, string>();
    const records = vault ? await vault.getAll(tenantId, SECRET_KIND) : [];
    for (const r of records) {
      if ('error' in r) {
        broken.set(r.name, r.error.message);
        // Bound to no host and empty: never sent, never a fallback to the platform's.
        secrets.set(r.name, { name: r.name, value: '', hosts: [] });
      } else {
        const hosts = Array.isArray(r.meta.hosts) ? (r.meta.hosts as string[]) : [];
        secrets.set(r.name, { name: r.name, value: r.value, hosts });
      }
    }
    teach(records.flatMap((r) => ('value' in r ? [r.value] : [])));
    return { secrets, scrub: createScrubber(secrets), broken };
  }

  return {
    platform: platformView,
    /** The view for a job: the platform's (sync path, v1) or the tenant's (cached). */
    view(tenantId: string | undefined): SecretsView | Promise<SecretsView> {
      if (tenantId === undefined) return platformView;
      const t = now();
      const hit = cache.get(tenantId);
      if (hit && t - hit.at < cacheMs) return hit.view;
      const view = load(tenantId);
      cache.delete(tenantId);
      cache.set(tenantId, { at: t, view });
      // A failed load (Redis down) is not cached: the next job tries again.
      view.catch(() => {
        if (cache.get(tenantId)?.view === view) cache.delete(tenantId);
      });
      if (cache.size > maxTenants) cache.delete(cache.keys().next().value!);
      return view;
    },
  };
}

export type SecretsResolver = ReturnType<typeof createSecretsResolver>;

/**
 * After rendering: a used secret that did not decrypt fails the job, permanently, naming the
 * secret and the fix (never its value).
 */
export function checkBroken(
  view: SecretsView,
  used: Iterable<string>,
  tenantId: string | undefined,
): void {
  if (view.broken.size === 0) return;
  for (const name of used) {
    const why = view.broken.get(name);
    if (why !== undefined) {
      throw new InvokeError(
        'TEMPLATE_ERROR',
        `secrets.${name} of tenant ${tenantId ?? '-'} cannot be decrypted (${why}); set it again (invoke-api secrets set ${tenantId ?? 'TENANT'} ${name}) or configure the key it was sealed with`,
        { retryable: false },
      );
    }
  }
}

/** What the processor needs of tenancy (index.ts builds it; tests may pass their own). */
export interface TenantStage {
  resolver: Pick<SecretsResolver, 'view'>;
  runs: { claim(runId: string, tenantId: string): Promise<string> };
}

/**
 * A tenant job's first stage: claim (or confirm) the run for its tenant, then load the
 * tenant's secrets view. A run owned by another tenant is INVALID_JOB (permanent, nothing read
 * or written); the message does not say which tenant owns it.
 */
export async function enterTenant(
  stage: TenantStage,
  job: { tenantId?: string | undefined; runId: string },
): Promise<SecretsView | undefined> {
  if (job.tenantId === undefined) return undefined;
  const owner = await stage.runs.claim(job.runId, job.tenantId);
  if (owner !== job.tenantId) {
    throw new InvokeError(
      'INVALID_JOB',
      `runId: run ${job.runId} belongs to another tenant; a tenant's step never reads or writes another tenant's run (use a runId of tenant ${job.tenantId})`,
      { retryable: false },
    );
  }
  return stage.resolver.view(job.tenantId);
}
