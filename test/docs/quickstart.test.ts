/**
 * What the Docker image runs (CMD ["node", "--max-semi-space-size=32", "dist/main.js"],
 * INVOKE_API_HOST=0.0.0.0) and what `npm start` runs after its build (the same node arguments,
 * checked here): /healthz answers, SIGTERM reaches main.ts and ends the
 * process with exit 0 (so node as PID 1 needs no init), and binding beyond loopback without a
 * token stops at start naming INVOKE_API_TOKEN. Needs dist/ (npm test builds it first).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { namespace, redisClient, cleanNamespace } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { startArgs } from '../../scripts/start-command.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const built = existsSync(`${root}dist/main.js`);

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, startArgs(), {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (out += c));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );
  return { child, exited, out: () => out };
}

describe('the start command', () => {
  it('is the same in the Docker image as in npm start', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(`${root}Dockerfile`, 'utf8'))?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(['node', ...startArgs()]);
    expect(startArgs()).toContain('--max-semi-space-size=32');
  });
});

describe.skipIf(!built)('node dist/main.js (the image CMD, npm start)', () => {
  it('serves /healthz and exits 0 on SIGTERM', async () => {
    const ns = namespace('qs');
    const port = await freePort();
    const p = start({
      ...ns.env,
      PORT: String(port),
      INVOKE_API_HOST: '0.0.0.0',
      INVOKE_API_TOKEN: 'quickstart-token-0123456789',
    });
    try {
      // Generous: a cold start of the whole server takes seconds on a loaded 2-core machine.
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.ok,
            () => false,
          )) || undefined,
        `/healthz on ${port}`,
        45_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; process output:\n${p.out()}`);
      });
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.out()).toContain('"msg":"stopped"');
    } finally {
      p.child.kill('SIGKILL');
      const redis = redisClient();
      await cleanNamespace(redis, ns);
      await redis.quit();
    }
  }, 60_000);

  it('refuses to listen beyond loopback without INVOKE_API_TOKEN (exit 2, naming it)', async () => {
    const p = start({
      ...namespace('qs').env,
      INVOKE_API_HOST: '0.0.0.0',
      INVOKE_WORKER_ENABLED: 'false',
    });
    expect(await p.exited).toBe(2);
    expect(p.out()).toContain('INVOKE_API_TOKEN');
  }, 60_000);
});
