/**
 * Partner authentication (contract v1.1 section 6.2), composed from a Config: the credential
 * resolver (platform credentials now, tenant credentials from the vault), the shared token cache
 * (sealed under INVOKE_SECRETS_KEY) and the stage the processor runs for steps with request.auth.
 */
import type { Config } from '../config.js';
import type { HttpClient } from '../http/call.js';
import type { RedisClient } from '../redis.js';
import { createResolver, type TenantCredentials } from './resolve.js';
import { createSealer } from './seal.js';
import { createAuthStage } from './stage.js';
import { createTokenCache, type TokenEvent } from './token-cache.js';
import { requestToken } from './token-endpoint.js';

export type { AuthStage, AuthUse } from './stage.js';
export type { TokenEvent } from './token-cache.js';

export interface AuthOptions {
  tenantCredentials?: TenantCredentials;
  onTokenRequest?: (e: TokenEvent) => void;
}

type AuthConfig = Pick<Config, 'credentials' | 'BULLMQ_PREFIX' | 'INVOKE_SECRETS_KEY' | 'INVOKE_SECRETS_OLD_KEYS' | 'INVOKE_AUTH_TOKEN_TTL_SECONDS' | 'INVOKE_AUTH_TOKEN_TIMEOUT_MS' | 'INVOKE_RETRY_AFTER_MAX_MS'>;

export function createAuth(cfg: AuthConfig, redis: RedisClient, http: Pick<HttpClient, 'send'>, opts: AuthOptions = {}) {
  // Without a key there is no token cache: loadConfig refuses OAuth2 platform credentials then,
  // and tenant credentials cannot be stored at all.
  const tokens = cfg.INVOKE_SECRETS_KEY
    ? createTokenCache({
        redis,
        prefix: cfg.BULLMQ_PREFIX,
        sealer: createSealer(cfg.INVOKE_SECRETS_KEY, cfg.INVOKE_SECRETS_OLD_KEYS),
        request: (cred) => requestToken(http.send, cred, { timeoutMs: cfg.INVOKE_AUTH_TOKEN_TIMEOUT_MS, retryAfterMaxMs: cfg.INVOKE_RETRY_AFTER_MAX_MS }),
        defaultTtlSeconds: cfg.INVOKE_AUTH_TOKEN_TTL_SECONDS,
        requestTimeoutMs: cfg.INVOKE_AUTH_TOKEN_TIMEOUT_MS,
        ...(opts.onTokenRequest ? { onRequest: opts.onTokenRequest } : {}),
      })
    : undefined;
  const resolve = createResolver(cfg.credentials, opts.tenantCredentials);
  return { stage: createAuthStage({ http, resolve, tokens }), tokens, resolve };
}

export type Auth = ReturnType<typeof createAuth>;
