/**
 * Processes the benchmark owns: a redis-server on a free loopback port (unless REDIS_URL is
 * given), the upstream and each worker under test as child processes speaking over IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface OwnedRedis {
  url: string;
  owned: boolean;
  stop(): Promise<void>;
}

/** Our own redis-server (no persistence, noeviction like production), or REDIS_URL as given. */
export async function startRedis(given: string | undefined): Promise<OwnedRedis> {
  if (given) return { url: given, owned: false, stop: async () => undefined };
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port, proc);
  return {
    url: `redis://127.0.0.1:${port}`,
    owned: true,
    stop: async () => {
      await stopChild(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not listen on ${port}`);
}

export interface Child {
  proc: ChildProcess;
  /** Sends a message and waits for the reply of the given type. */
  request<T>(msg: object, replyType: string): Promise<T>;
  next<T>(replyType: string): Promise<T>;
}

/** A TypeScript file under scripts/bench run by node with tsx, with an IPC channel. */
export function startChild(
  file: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Child {
  const proc = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', path.join(here, file), ...args],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } },
  );
  const next = <T>(replyType: string) =>
    new Promise<T>((resolve, reject) => {
      const onMsg = (m: { type: string }) => {
        if (m.type !== replyType) return;
        proc.off('message', onMsg);
        proc.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) =>
        reject(new Error(`${file} exited (${code}) before sending ${replyType}`));
      proc.on('message', onMsg);
      proc.once('exit', onExit);
    });
  return {
    proc,
    next,
    request: <T>(msg: object, replyType: string) => {
      const reply = next<T>(replyType);
      proc.send(msg);
      return reply;
    },
  };
}

export async function stopChild(proc: ChildProcess, graceMs = 15_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface Upstream {
  url: string;
  stop(): Promise<void>;
}

export async function startUpstream(latencyMs: number): Promise<Upstream> {
  const child = startChild('upstream-child.ts', [String(latencyMs)], {});
  const { port } = await child.next<{ port: number }>('ready');
  return { url: `http://127.0.0.1:${port}`, stop: () => stopChild(child.proc) };
}
