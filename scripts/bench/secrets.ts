/**
 * The secrets the `envsecret` and `tenantsecret` scenarios read (issue 21: what a tenant secret
 * costs on the hot path against an environment secret). The same name, BENCH_KEY, as a
 * platform secret in ours' environment, or as the bench tenant's secret stored through the
 * tenants admin (src/tenants) in the run's own vault before the worker starts, sealed under a
 * key made for this bench process.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createTenantSecrets } from '../../src/tenants/secrets.js';
import { createVault, vaultKeys } from '../../src/vault/index.js';

export const BENCH_SECRET = 'BENCH_KEY';
export const BENCH_TENANT = 'bench-tenant';
const KEY = randomBytes(32).toString('base64');
const VALUE = `bench-${randomBytes(12).toString('hex')}`;

/** Ours' environment for either scenario: the key opens the vault; the platform secret exists too. */
export const SECRETS_ENV = { INVOKE_SECRETS_KEY: KEY, [`INVOKE_SECRET_${BENCH_SECRET}`]: VALUE };

/** Stores the tenant's BENCH_KEY, bound to the loopback upstream, in the vault under `prefix`. */
export async function storeTenantSecret(redis: Redis, prefix: string): Promise<void> {
  const vault = createVault({
    redis,
    prefix,
    keys: vaultKeys({ INVOKE_SECRETS_KEY: KEY, INVOKE_SECRETS_OLD_KEYS: [] }),
  });
  await createTenantSecrets(vault).set(BENCH_TENANT, BENCH_SECRET, {
    value: VALUE,
    hosts: ['127.0.0.1'],
  });
}
