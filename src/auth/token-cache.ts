/**
 * OAuth2 access tokens shared by every worker (contract v1.1 section 6.2):
 *
 *   <prefix>:auth:{<scope>}:token   the token, sealed (AES-256-GCM, key name as additional
 *                                   data), expiring in Redis shortly before expires_in;
 *   <prefix>:auth:{<scope>}:lock    held by the one worker requesting a token (SET NX PX);
 *   <prefix>:auth:{<scope>}:error   the last request's failure, sealed, tagged with its lock
 *                                   owner: the workers that waited on that request fail alike
 *                                   instead of each asking again (no storm on a failing
 *                                   endpoint); a later attempt, which waited on nothing, asks.
 *
 * Expiry is Redis's TTL, never a worker's clock: workers with skewed clocks agree on it. Inside
 * one process a credential's waiters share one promise, so across N processes at most N poll
 * while one requests. A token the partner refused (401) is dropped only if it is still the one
 * that was sent (compare-and-delete), so a burst of 401s leads to one new token, not one each.
 */
import { createHash, randomBytes } from 'node:crypto';
import { InvokeError } from '../contract/errors.js';
import type { OAuth2Credential } from '../contract/credential.js';
import type { RedisClient } from '../redis.js';
import type { Sealer } from './seal.js';
import type { AccessToken } from './token-endpoint.js';

export interface TokenRef {
  /** Unique per credential: `platform:NAME` or `tenant:<tenantId>:NAME`. */
  scope: string;
  credential: OAuth2Credential;
}

export interface HeldToken {
  value: string;
  /** The sealed record it came from: what invalidate() compares before deleting. */
  sealed: string;
  /** True when this call requested it from the token endpoint (false: from the cache). */
  fetched: boolean;
}

export interface TokenEvent {
  scope: string;
  outcome: 'issued' | 'refused' | 'failed';
}

export interface TokenCacheOptions {
  redis: RedisClient;
  prefix: string;
  sealer: Sealer;
  request: (cred: OAuth2Credential) => Promise<AccessToken>;
  /** Kept this long when the endpoint gives no expires_in. */
  defaultTtlSeconds: number;
  /** The token request's own timeout: the lock outlives it, waiters give up after it. */
  requestTimeoutMs: number;
  onRequest?: (e: TokenEvent) => void;
}

const POLL_MS = 20;
/** A failure record only needs to outlive its waiters' next poll. */
const FAILURE_TTL_MS = 5000;
const COMPARE_AND_DELETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Kept until shortly before expires_in: 10 % of its lifetime, at most a minute, so a token is
 * never sent in its last moments (RFC 6749 5.1 gives the lifetime in seconds from issue).
 */
export function cacheTtlMs(
  expiresInSeconds: number | undefined,
  defaultTtlSeconds: number,
): number {
  if (expiresInSeconds === undefined) return defaultTtlSeconds * 1000;
  const lifetime = expiresInSeconds * 1000;
  return Math.floor(lifetime - Math.min(60_000, lifetime / 10));
}

/** Tells a token of the current credential from one cached under an earlier client secret. */
function fingerprint(c: OAuth2Credential): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        c.tokenUrl,
        c.clientId,
        c.clientSecret,
        c.scope ?? null,
        c.audience ?? null,
        c.clientAuth,
      ]),
    )
    .digest('base64url');
}

export function createTokenCache(opts: TokenCacheOptions) {
  const { redis, sealer } = opts;
  const inFlight = new Map<string, Promise<HeldToken>>();
  const keys = (scope: string) => tokenKeys(opts.prefix, scope);

  async function readToken(ref: TokenRef, fp: string): Promise<HeldToken | undefined> {
    const key = keys(ref.scope).token;
    const sealed = await redis.get(key);
    const record = sealed
      ? parse<{ fp: string; token: string }>(sealer.open(sealed, key))
      : undefined;
    return record && record.fp === fp
      ? { value: record.token, sealed: sealed!, fetched: false }
      : undefined;
  }

  /** The failure of the request `owner` made, if that is what it ended in. */
  async function readFailure(ref: TokenRef, owner: string): Promise<InvokeError | undefined> {
    const key = keys(ref.scope).error;
    const sealed = await redis.get(key);
    const f = sealed
      ? parse<{ owner: string; message: string; retryable: boolean; retryAfterMs?: number }>(
          sealer.open(sealed, key),
        )
      : undefined;
    if (!f || f.owner !== owner) return undefined;
    return new InvokeError('AUTH_ERROR', f.message, {
      retryable: f.retryable,
      ...(f.retryAfterMs !== undefined ? { retryAfterMs: f.retryAfterMs } : {}),
    });
  }

  /** Under the lock: request, keep (or record the failure), release. */
  async function fetchUnderLock(ref: TokenRef, fp: string, owner: string): Promise<HeldToken> {
    const k = keys(ref.scope);
    try {
      // Another worker may have stored one between our read and our lock.
      const raced = await readToken(ref, fp);
      if (raced) return raced;
      let token: AccessToken;
      try {
        token = await opts.request(ref.credential);
      } catch (err) {
        const e =
          err instanceof InvokeError
            ? err
            : new InvokeError('AUTH_ERROR', 'token request failed', { retryable: true });
        opts.onRequest?.({ scope: ref.scope, outcome: e.retryable ? 'failed' : 'refused' });
        const failure = {
          owner,
          message: e.detail,
          retryable: e.retryable,
          ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
        };
        await redis.set(
          k.error,
          sealer.seal(JSON.stringify(failure), k.error),
          'PX',
          FAILURE_TTL_MS,
        );
        throw e;
      }
      opts.onRequest?.({ scope: ref.scope, outcome: 'issued' });
      const sealed = sealer.seal(JSON.stringify({ fp, token: token.value }), k.token);
      const ttl = cacheTtlMs(token.expiresInSeconds, opts.defaultTtlSeconds);
      // A token living under a second is used for this call only, never shared.
      if (ttl >= 1000) await redis.set(k.token, sealed, 'PX', ttl);
      await redis.del(k.error);
      return { value: token.value, sealed, fetched: true };
    } finally {
      await redis.eval(COMPARE_AND_DELETE, 1, k.lock, owner).catch(() => undefined);
    }
  }

  async function obtain(ref: TokenRef): Promise<HeldToken> {
    const fp = fingerprint(ref.credential);
    const k = keys(ref.scope);
    const lockMs = opts.requestTimeoutMs + 2000;
    const giveUpAt = Date.now() + 2 * lockMs;
    let waitedOn: string | null = null;
    for (;;) {
      const cached = await readToken(ref, fp);
      if (cached) return cached;
      const failure = waitedOn ? await readFailure(ref, waitedOn) : undefined;
      if (failure) throw failure;
      const owner = randomBytes(9).toString('base64url');
      if ((await redis.set(k.lock, owner, 'PX', lockMs, 'NX')) === 'OK')
        return fetchUnderLock(ref, fp, owner);
      if (Date.now() > giveUpAt)
        throw new InvokeError(
          'AUTH_ERROR',
          "timed out waiting for another worker's token request",
          { retryable: true },
        );
      waitedOn = (await redis.get(k.lock)) ?? waitedOn;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** The credential's current token: cached, or requested once for every waiter in every worker. */
  function get(ref: TokenRef): Promise<HeldToken> {
    let p = inFlight.get(ref.scope);
    if (!p) {
      p = obtain(ref).finally(() => inFlight.delete(ref.scope));
      inFlight.set(ref.scope, p);
    }
    return p;
  }

  /** Drops the token the partner refused, unless another worker has already replaced it. */
  async function invalidate(ref: TokenRef, held: HeldToken): Promise<void> {
    await redis.eval(COMPARE_AND_DELETE, 1, keys(ref.scope).token, held.sealed);
  }

  return { get, invalidate, keys };
}

export function tokenKeys(prefix: string, scope: string) {
  const base = `${prefix}:auth:{${scope}}`;
  return { token: `${base}:token`, lock: `${base}:lock`, error: `${base}:error` };
}

/**
 * Drops a credential's cached token (invoke-api credentials refresh, a credential replaced or
 * deleted): the next call requests a new one. True when there was one.
 */
export async function dropCachedToken(
  redis: RedisClient,
  prefix: string,
  scope: string,
): Promise<boolean> {
  const k = tokenKeys(prefix, scope);
  return (await redis.del(k.token, k.error)) > 0;
}

export type TokenCache = ReturnType<typeof createTokenCache>;

function parse<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
