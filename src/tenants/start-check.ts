/**
 * At start: can the configured keys open what the vault holds? A missing or wrong
 * INVOKE_SECRETS_KEY, or a previous key dropped from INVOKE_SECRETS_OLD_KEYS before
 * `invoke-api secrets rotate-key` ran, stops the process naming the variable (exit 2), instead
 * of failing every tenant job that uses a secret later.
 */
import { ConfigError, type Config } from '../config.js';
import { createRedis } from '../redis.js';
import { createVault, vaultKeys } from '../vault/index.js';

/** The ConfigError's message, or undefined when the keys are fine. Other errors propagate. */
export async function checkSecretsKeys(cfg: Config): Promise<string | undefined> {
  const redis = createRedis(cfg, 'vault-check');
  try {
    await createVault({ redis, prefix: cfg.INVOKE_VAULT_PREFIX, keys: vaultKeys(cfg) }).checkKeys();
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  } finally {
    redis.disconnect();
  }
}
