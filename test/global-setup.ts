/**
 * Runs once around the whole suite: gives the run a mark that every namespace() carries, and at
 * the end fails the run if keys under that mark are left in Redis (a test that does not clean
 * up after itself). Keys of other concurrent runs on the same Redis have other marks.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function keysUnder(redis: Redis, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) found.add(k);
  } while (cursor !== '0');
  return [...found].sort();
}

export default function setup(): () => Promise<void> {
  const run = randomBytes(3).toString('hex');
  process.env.INVOKE_TEST_RUN = run; // inherited by the test workers, read by helpers/redis.ts
  return async () => {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await redis.connect();
      const left = await keysUnder(redis, `test:r${run}-*`);
      if (left.length > 0) {
        // One line per namespace: the label names the test file that leaked.
        const byNamespace = new Map<string, number>();
        for (const k of left)
          byNamespace.set(k.split(':')[1]!, (byNamespace.get(k.split(':')[1]!) ?? 0) + 1);
        for (let i = 0; i < left.length; i += 500) await redis.del(...left.slice(i, i + 500));
        // vitest reports a teardown error but still exits 0: set the exit code ourselves.
        process.exitCode = 1;
        throw new Error(
          `${left.length} keys left in Redis by this test run (removed now):\n${[...byNamespace].map(([ns, n]) => `  test:${ns}:* ${n} keys`).join('\n')}`,
        );
      }
    } finally {
      redis.disconnect();
    }
  };
}
