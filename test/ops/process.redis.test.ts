/**
 * The built process (dist/main.js): exits non-zero when Redis stays unreachable past
 * INVOKE_REDIS_STARTUP_GRACE_MS; otherwise serves health, /metrics and /ui (wired in main.ts)
 * and stops cleanly on SIGTERM.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../helpers/cli.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const TOKEN = 'process-token-0123456789';
const children: ChildProcess[] = [];

function start(env: Record<string, string>) {
  ensureBuilt();
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

// Generous bounds: node start-up alone takes seconds on a loaded 2-core CI machine.
describe('the worker process', { timeout: 120_000 }, () => {
  it('exits 1 when Redis stays unreachable past the grace period', async () => {
    const closed = await freePort();
    const t0 = Date.now();
    const p = start({
      REDIS_URL: `redis://127.0.0.1:${closed}`,
      INVOKE_REDIS_STARTUP_GRACE_MS: '500',
      PORT: String(await freePort()),
    });
    expect(await p.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(p.output()).toContain(
      `cannot reach Redis at redis://127.0.0.1:${closed} (ECONNREFUSED): is it running? set REDIS_URL`,
    );
  });

  it('serves health, metrics and the dashboard behind the token, then stops on SIGTERM', async () => {
    const ns = namespace('proc');
    const port = await freePort();
    const p = start({ ...ns.env, PORT: String(port), INVOKE_API_TOKEN: TOKEN });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
        'readyz 200',
        60_000,
      );
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      const m = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await m.text();
      expect(text).toContain('invoke_queue_jobs{state="waiting"} 0');
      expect(text).toContain('invoke_worker_concurrency 100');
      expect(text).toContain('nodejs_heap_size_used_bytes');
      expect((await fetch(`${base}/ui`)).status).toBe(401);
      expect(
        (
          await fetch(`${base}/ui`, {
            headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
          })
        ).status,
      ).toBe(200);
      expect(
        (await fetch(`${base}/v1/ops/status`, { headers: { authorization: `Bearer ${TOKEN}` } }))
          .status,
      ).toBe(200);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      const r = redisClient();
      await cleanNamespace(r, ns);
      await r.quit();
    }
  });
});
