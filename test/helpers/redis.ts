/** Per-test namespaces on the real Redis and cleanup of everything they created. */
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Namespace {
  id: string;
  queue: string;
  prefix: string;
  ctxPrefix: string;
  stream: string;
  env: Record<string, string>;
}

/**
 * This test run's mark, set once by test/global-setup.ts for every test file: the leak check at
 * the end counts the keys under `test:<RUN_MARK>*` only, so concurrent runs on the same Redis
 * (other checkouts, CI jobs) neither hide nor cause a failure.
 */
export const RUN_MARK = `r${process.env.INVOKE_TEST_RUN ?? randomBytes(3).toString('hex')}`;

/** A queue name, BullMQ prefix, context prefix and stream nobody else uses. */
export function namespace(label = 't'): Namespace {
  const id = `${RUN_MARK}-${label}-${randomBytes(4).toString('hex')}`;
  const ns = {
    id,
    queue: 'invoke-api',
    prefix: `test:${id}:bull`,
    ctxPrefix: `test:${id}:ctx`,
    stream: `test:${id}:continuations`,
  };
  return {
    ...ns,
    env: {
      REDIS_URL,
      INVOKE_QUEUE: ns.queue,
      BULLMQ_PREFIX: ns.prefix,
      INVOKE_CTX_PREFIX: ns.ctxPrefix,
      INVOKE_EVENTS_STREAM: ns.stream,
      INVOKE_VAULT_PREFIX: `test:${id}:vault`,
      INVOKE_CACHE_PREFIX: `test:${id}:{cache}`,
      INVOKE_OPS_STREAM: `test:${id}:ops`,
    },
  };
}

export function redisClient(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * Every key of the namespace (SCAN, never KEYS), sorted and without repeats: SCAN may return a
 * key twice and its order changes when other tests' keys make Redis rehash, so two reads of an
 * unchanged namespace compare equal only this way.
 */
export async function namespaceKeys(redis: Redis, ns: Pick<Namespace, 'id'>): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `test:${ns.id}:*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return [...new Set(found)].sort();
}

/** Deletes every key of the namespace. */
export async function cleanNamespace(redis: Redis, ns: Namespace): Promise<void> {
  const keys = await namespaceKeys(redis, ns);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}

/** Every key of the namespace with its full string content, for "the secret is nowhere" checks. */
export async function dumpNamespace(redis: Redis, ns: Namespace): Promise<string> {
  const keys = await namespaceKeys(redis, ns);
  const parts: string[] = [];
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'string') parts.push(String(await redis.get(key)));
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}
