/** The process (src/main.ts): the API runs beside the worker by default, or alone. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { jobData } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'main-test-token-0123456789';
const ns = namespace('main');
const alone = namespace('main-alone');
const redis = redisClient();
let up: Upstream;
let both: { base: string; child: ChildProcess };
let apiOnly: { base: string; child: ChildProcess };

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

async function startMain(
  env: Record<string, string>,
  own = ns,
): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      ...own.env,
      PORT: String(port),
      INVOKE_API_TOKEN: TOKEN,
      INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok,
    'the server to listen',
    60_000,
  );
  return { base, child };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

const call = (base: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));

// Both processes start at once (tsx start-up dominates), each on its own namespace.
beforeAll(async () => {
  up = await startUpstream((_r, res) => json(res, 200, { points: 8 }));
  [both, apiOnly] = await Promise.all([
    startMain({}),
    startMain({ INVOKE_WORKER_ENABLED: 'false' }, alone),
  ]);
}, 90_000);
afterAll(async () => {
  await Promise.all([both, apiOnly].filter(Boolean).map((p) => stop(p.child)));
  await up.close();
  await cleanNamespace(redis, ns);
  await cleanNamespace(redis, alone);
  await redis.quit();
});

describe('main.ts', () => {
  it('by default serves the API and runs the worker in one process', async () => {
    const { base } = both;
    const { body } = await call(
      base,
      '/v1/invocations',
      jobData({ request: { url: `${up.url}/l` } }),
    );
    const done = await waitFor(
      async () => {
        const s = await call(base, `/v1/invocations/${encodeURIComponent(body.jobId)}`);
        return s.body.state === 'completed' && s.body;
      },
      'completed',
      30_000,
    );
    expect(done.envelope).toMatchObject({ ok: true, status: 200, body: { points: 8 } });
    expect((await call(base, '/readyz')).body.checks).toEqual({ redis: true, worker: true });
  });

  it('with INVOKE_WORKER_ENABLED=false serves the API alone', async () => {
    const { base } = apiOnly;
    const res = await call(base, '/v1/invocations', jobData({ request: { url: `${up.url}/l` } }));
    expect(res.status).toBe(202);
    expect((await call(base, '/readyz')).body.checks).toEqual({ redis: true });
    expect(
      (await call(base, `/v1/invocations/${encodeURIComponent(res.body.jobId)}`)).body.state,
    ).toBe('waiting');
  });
});
