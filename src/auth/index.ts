/**
 * Partner authentication (contract v1.1 section 6.2), composed from a Config: the credential
 * resolver (platform credentials now, tenant credentials from the vault), the shared token cache
 * (sealed under INVOKE_SECRETS_KEY) and the stage the attempt pipeline runs for steps with
 * request.auth.
 */
import type { Config } from '../config.js';
import type { HttpClient } from '../http/call.js';
import type { RedisClient } from '../redis.js';
import { createResolver, type TenantCredentials } from './resolve.js';
import { sealerFrom } from './seal.js';
import { createTenantCredentials, vaultCredentials } from './tenant-credentials.js';
import { createCipher, createVault, vaultKeys } from '../vault/index.js';
import { createAuthStage } from './stage.js';
import { createTokenCache, type TokenEvent } from './token-cache.js';
import { requestToken } from './token-endpoint.js';

export type { AuthStage, AuthUse } from './stage.js';
export type { TokenEvent } from './token-cache.js';

export interface AuthOptions {
  /** Where tenant credentials are read (default: the vault under INVOKE_VAULT_PREFIX). */
  tenantCredentials?: TenantCredentials;
  onTokenRequest?: (e: TokenEvent) => void;
}

type AuthConfig = Pick<
  Config,
  | 'credentials'
  | 'BULLMQ_PREFIX'
  | 'INVOKE_VAULT_PREFIX'
  | 'INVOKE_SECRETS_KEY'
  | 'INVOKE_SECRETS_OLD_KEYS'
  | 'INVOKE_AUTH_TOKEN_TTL_SECONDS'
  | 'INVOKE_AUTH_TOKEN_TIMEOUT_MS'
  | 'INVOKE_RETRY_AFTER_MAX_MS'
>;

export function createAuth(
  cfg: AuthConfig,
  redis: RedisClient,
  http: Pick<HttpClient, 'send'>,
  opts: AuthOptions = {},
) {
  // Without a key there is no token cache: loadConfig refuses OAuth2 platform credentials then,
  // and tenant credentials cannot be stored at all.
  const keys = vaultKeys(cfg);
  const tokens = keys
    ? createTokenCache({
        redis,
        prefix: cfg.BULLMQ_PREFIX,
        sealer: sealerFrom(createCipher(keys)),
        request: (cred) =>
          requestToken(http.send, cred, {
            timeoutMs: cfg.INVOKE_AUTH_TOKEN_TIMEOUT_MS,
            retryAfterMaxMs: cfg.INVOKE_RETRY_AFTER_MAX_MS,
          }),
        defaultTtlSeconds: cfg.INVOKE_AUTH_TOKEN_TTL_SECONDS,
        requestTimeoutMs: cfg.INVOKE_AUTH_TOKEN_TIMEOUT_MS,
        ...(opts.onTokenRequest ? { onRequest: opts.onTokenRequest } : {}),
      })
    : undefined;
  const tenant =
    opts.tenantCredentials ??
    vaultCredentials(createVault({ redis, prefix: cfg.INVOKE_VAULT_PREFIX, keys }));
  const resolve = createResolver(cfg.credentials, tenant);
  return { stage: createAuthStage({ http, resolve, tokens }), tokens, resolve };
}

export type Auth = ReturnType<typeof createAuth>;

/** The write-only admin of tenant credentials under the HTTP routes and the CLI. */
export function createCredentialAdmin(
  cfg: Pick<
    Config,
    'BULLMQ_PREFIX' | 'INVOKE_VAULT_PREFIX' | 'INVOKE_SECRETS_KEY' | 'INVOKE_SECRETS_OLD_KEYS'
  >,
  redis: RedisClient,
) {
  return createTenantCredentials(
    createVault({ redis, prefix: cfg.INVOKE_VAULT_PREFIX, keys: vaultKeys(cfg) }),
    redis,
    cfg.BULLMQ_PREFIX,
  );
}
