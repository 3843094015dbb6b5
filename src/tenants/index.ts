/**
 * Tenancy for one process (contract v1.1 section 6.1): the vault, the secrets resolver the
 * processor and the dry run use, run ownership, and the write-only secrets admin under the
 * routes and the CLI.
 */
import type { Config } from '../config.js';
import type { RedisClient } from '../redis.js';
import type { Scrubber } from '../template/secrets.js';
import { createVault, vaultKeys } from '../vault/index.js';
import { createSecretsResolver } from './resolver.js';
import { createRunOwnership } from './ownership.js';
import { createTenantSecrets } from './secrets.js';

export type TenancyConfig = Pick<
  Config,
  | 'INVOKE_SECRETS_KEY'
  | 'INVOKE_SECRETS_OLD_KEYS'
  | 'INVOKE_VAULT_PREFIX'
  | 'INVOKE_SECRETS_CACHE_MS'
  | 'INVOKE_CTX_PREFIX'
  | 'INVOKE_CTX_TTL_SECONDS'
  | 'secrets'
>;

export function createTenancy(cfg: TenancyConfig, redis: RedisClient, platformScrub?: Scrubber) {
  const vault = createVault({ redis, prefix: cfg.INVOKE_VAULT_PREFIX, keys: vaultKeys(cfg) });
  return {
    vault,
    resolver: createSecretsResolver({
      vault,
      platform: cfg.secrets,
      cacheMs: cfg.INVOKE_SECRETS_CACHE_MS,
      ...(platformScrub ? { platformScrub } : {}),
    }),
    runs: createRunOwnership(redis, cfg.INVOKE_CTX_PREFIX, cfg.INVOKE_CTX_TTL_SECONDS),
    secrets: createTenantSecrets(vault),
  };
}

export type Tenancy = ReturnType<typeof createTenancy>;
export { checkBroken, type SecretsView, type SecretsResolver } from './resolver.js';
export { TenantInputError, SecretsDisabledError } from './secrets.js';
