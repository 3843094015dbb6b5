/** `npm run demo` as a person runs it (its script command): a subprocess against the local Redis; exit code, key lines, no leftovers. */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { Worker } from 'bullmq';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cleanNamespace, namespace, namespaceKeys, redisClient } from '../helpers/redis.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  scripts: Record<string, string>;
};

/** The command of an npm script, run without npm's own start-up (seconds on a loaded machine). */
function runScript(
  name: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  const [cmd, ...args] = pkg.scripts[name]!.split(' ');
  const bin =
    cmd === 'node' ? process.execPath : cmd === 'tsx' ? `${root}node_modules/.bin/tsx` : cmd!;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 55_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('npm run demo', () => {
  it('runs the journey, shows calls, retries, events and context, and removes its keys', async () => {
    const { code, out } = await runScript('demo');
    expect(out).toContain('Demo finished');
    expect(code).toBe(0);
    // Step 2 used step 1's result through context.
    expect(out).toMatch(
      /partner {2}POST \/offers \{"customerId":"cus-ben","tier":"silver","points":"300"\} -> 503/,
    );
    expect(out).toContain('send-offer for cus-ben: attempt 1 -> 503 HTTP_STATUS (retry)');
    expect(out).toContain('send-offer for cus-ben: attempt 2 -> 200 (completed)');
    expect(out).toMatch(/event {4}invoke\.completed send-offer for cus-ben: .*attempts=2/);
    expect(out).toMatch(
      /event {4}invoke\.failed fetch-loyalty for cus-chloe: status=404 errorCode=HTTP_STATUS attempts=1/,
    );
    expect(out).toMatch(
      /loyalty = \{"ok":true,"status":200,"body":\{"points":1200,"tier":\{"name":"gold"\}\}/,
    );
    expect(out).toContain('http://127.0.0.1:8080/ui');
    const ns = /keys under (demo:[0-9a-f]+):\*/.exec(out)![1];
    const redis = redisClient();
    const left: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
      cursor = next;
      left.push(...keys);
    } while (cursor !== '0');
    await redis.quit();
    expect(left).toEqual([]);
  }, 60_000);

  it('npm run enqueue-example enqueues one step on the service queue, prints its event, envelope and status, and removes its keys', async () => {
    const ns = namespace('example');
    const { code, out } = await runScript('enqueue-example', ns.env);
    const redis = redisClient();
    const left = await namespaceKeys(redis, ns);
    await cleanNamespace(redis, ns);
    await redis.quit();
    expect(code, out).toBe(0);
    expect(left).toEqual([]);
    expect(out).toContain(`on queue ${ns.queue}`);
    expect(out).toContain("state: 'completed'");
    expect(out).toMatch(/enqueued ik\.[^ ]+ \(deduplicated: false\)/);
    expect(out).toContain('continuation event on');
    expect(out).toContain("type: 'invoke.completed'");
    expect(out).toMatch(/"ok": true/);
  }, 60_000);

  it('npm run enqueue-example refuses to run while a worker consumes the queue (its worker may call loopback)', async () => {
    const ns = namespace('example-busy');
    const redis = redisClient();
    const other = new Worker(ns.queue, async () => undefined, {
      connection: redisClient(),
      prefix: ns.prefix,
    });
    try {
      await other.waitUntilReady();
      const { code, out } = await runScript('enqueue-example', ns.env);
      expect(code).toBe(1);
      expect(out).toContain(
        `1 worker(s) already consume jobs on queue ${ns.queue}: stop it, or run with INVOKE_QUEUE=<a queue of your own>`,
      );
    } finally {
      await other.close();
      await cleanNamespace(redis, ns);
      await redis.quit();
    }
  }, 60_000);
});
