/**
 * Static checks of Dockerfile, .dockerignore and docker-compose.yml (there is no Docker engine
 * in CI): every file they reference exists and reaches the build context, every variable the
 * worker is given is a known setting that loadConfig accepts, and the compose client (when
 * installed) parses the file.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig, settings } from '../../src/config.js';
import { invokeJobSchema } from '../../src/contract/job.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { waitFor } from '../helpers/wait.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (f: string) => readFileSync(join(root, f), 'utf8');
const compose = parse(read('docker-compose.yml')) as {
  services: Record<string, any>;
  volumes?: Record<string, unknown>;
};
const TOKEN = 'compose-test-token-0123456789';
/** ${NAME:?msg} / ${NAME:-default} as compose interpolates them, with the token set. */
const interpolate = (v: string) =>
  v.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, rest?: string) =>
    name === 'INVOKE_API_TOKEN' ? TOKEN : op === '-' ? rest! : '',
  );

/** `config --services` from whichever compose client is installed; undefined when none is. */
function composeServices(): string[] | undefined {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    try {
      const out = execFileSync(
        cmd[0]!,
        [...cmd.slice(1), '--profile', 'demo', 'config', '--services'],
        {
          cwd: root,
          env: { ...process.env, INVOKE_API_TOKEN: TOKEN },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      return out.split('\n').filter(Boolean).sort();
    } catch (err) {
      const e = err as { code?: string; stderr?: string };
      // Not installed (ENOENT) or docker without the compose plugin: try the next client.
      if (
        e.code === 'ENOENT' ||
        /unknown (command|flag)|is not a docker command/.test(String(e.stderr))
      )
        continue;
      throw err;
    }
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  const worker = compose.services.worker;
  const env = worker.environment as Record<string, string>;

  it('gives the worker only known settings (or INVOKE_SECRET_*), and values loadConfig accepts', () => {
    const unknown = Object.keys(env).filter(
      (k) => !(k in settings) && !k.startsWith('INVOKE_SECRET_'),
    );
    expect(unknown).toEqual([]);
    const cfg = loadConfig(
      Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v))])),
    );
    expect(cfg.INVOKE_API_HOST).toBe('0.0.0.0');
    expect(cfg.secrets.get('PARTNER_TOKEN')?.hosts).toEqual(['partner']);
  });

  it('requires INVOKE_API_TOKEN, runs Redis with AOF and noeviction on a volume, and keeps the mock partner optional', () => {
    expect(env.INVOKE_API_TOKEN).toMatch(/^\$\{INVOKE_API_TOKEN:\?.+\}$/);
    const redis = compose.services.redis;
    expect(redis.command.join(' ')).toContain('--appendonly yes');
    expect(redis.command.join(' ')).toContain('--maxmemory-policy noeviction');
    const [volume] = String(redis.volumes[0]).split(':');
    expect(compose.volumes).toHaveProperty(volume!);
    expect(compose.services.partner.profiles).toEqual(['demo']);
    expect(String(worker.ports[0])).toMatch(/:8080$/);
  });

  it('shows a curl example whose body is a valid job for the demo partner', () => {
    const body = /-d '(\{.*\})'/.exec(read('docker-compose.yml'))![1]!;
    const job = invokeJobSchema.parse(JSON.parse(body));
    expect(job.request.url).toMatch(/^http:\/\/partner:9000\//);
    expect(env.INVOKE_ALLOW_PRIVATE).toBe('partner');
  });

  it('references only files that exist', () => {
    expect(existsSync(join(root, worker.build.context, worker.build.dockerfile))).toBe(true);
    for (const svc of Object.values(compose.services)) {
      for (const v of (svc.volumes ?? []) as string[]) {
        const src = v.split(':')[0]!;
        if (src.startsWith('.')) expect(existsSync(join(root, src)), v).toBe(true);
      }
    }
  });

  it('runs the partner service command as compose would (plain node, no build), and it stops on SIGTERM', async () => {
    const partner = compose.services.partner;
    const [mount, inContainer] = String(partner.volumes[0]).split(':') as [string, string];
    const [node, script, ...args] = (partner.command as string[]).map((a) =>
      a === inContainer ? join(root, mount) : a,
    );
    expect([node, script]).toEqual(['node', join(root, mount)]);
    const port = String(await freePort());
    const portArg = args.indexOf('--port') + 1;
    args[portArg] = port; // 9000 inside the container; a free port here
    const child = spawn(
      process.execPath,
      [script!, ...args.map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a))],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const get = (path: string) =>
        fetch(`http://127.0.0.1:${port}${path}`).then(
          (r) => r.status,
          () => 0,
        );
      await waitFor(
        async () => (await get('/healthz')) === 200 || undefined,
        'the mock partner to listen',
      );
      expect(await get('/loyalty/cus-ana')).toBe(200);
      expect(await get('/loyalty/cus-nobody')).toBe(404);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('parses with the compose client (skipped when none is installed)', (ctx) => {
    const services = composeServices();
    if (!services) return ctx.skip();
    expect(services).toEqual(['partner', 'redis', 'worker']);
  }, 60_000); // docker-compose v1 is Python: a slow start on a busy machine
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      m[1]!.split(/\s+/),
    );
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      expect(existsSync(join(root, src)), src).toBe(true);
      expect(ignored, src).not.toContain(src);
    }
  });

  it('installs production dependencies only in the runtime stage, runs as node, execs node directly, checks /healthz', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toContain('npm ci --omit=dev');
    expect(runtime).toMatch(/^USER node$/m);
    // Exec form, node itself as PID 1: SIGTERM reaches src/main.ts's handler (no npm, no shell).
    expect(runtime).toMatch(/^CMD \["node", "--max-semi-space-size=32", "dist\/main\.js"\]$/m);
    expect(existsSync(join(root, 'src/main.ts'))).toBe(true);
  });

  it('has a HEALTHCHECK that passes against the real /healthz route and fails when nothing listens', async () => {
    const exec = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile);
    const [node, ...args] = JSON.parse(exec![1]!) as string[];
    expect(node).toBe('node');
    const logger = createLogger('silent', (l) => l);
    const server = await buildServer({ cfg: loadConfig({}), logger, readiness: { checks: {} } });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const port = (server.server.address() as AddressInfo).port;
    // Async: a sync spawn would block this process, which is also the server being probed.
    const probe = (p: number) =>
      new Promise<number | null>((resolve) =>
        spawn(process.execPath, args, { env: { PORT: String(p) }, stdio: 'ignore' }).on(
          'close',
          resolve,
        ),
      );
    try {
      expect(await probe(port)).toBe(0);
    } finally {
      await server.close();
    }
    expect(await probe(port)).toBe(1);
  });
});
