/**
 * "ours" as production runs it: `npm start`'s `node --max-semi-space-size=32 dist/main.js` (the
 * node flags read from package.json; the built service: worker, HTTP API,
 * /metrics observers and destination hooks) with its default configuration, pointed at the
 * bench's queue, prefix and stream. Not a child of ours to talk to over IPC, so its CPU time and
 * peak RSS are read from /proc (Linux), its readiness from its own /readyz.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, stopChild } from './infra.js';
import { startArgs } from '../start-command.js';

const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s

export interface WorkerProcess {
  proc: ChildProcess;
  /** Starts the measured window (CPU counted from here). */
  mark(): void;
  /** CPU ms since the mark and peak RSS so far. */
  report(): Promise<{ cpuMs: number; maxRssKb: number }>;
  /** Stops taking jobs, drains, exits. */
  stop(): Promise<void>;
}

function cpuMs(pid: number): number {
  // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

function peakRssKb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** dir: the checkout whose dist/main.js to run (this one by default). */
export async function startService(
  env: Record<string, string>,
  logFile: string,
  nodeArgs: string[],
  dir = '.',
): Promise<WorkerProcess> {
  const main = path.resolve(dir, 'dist/main.js');
  if (!existsSync(main)) throw new Error('dist/main.js is missing: run `npm run build` first');
  const port = await freePort();
  const log = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [...nodeArgs, ...startArgs().slice(0, -1), main], {
    stdio: ['ignore', log, 'inherit'],
    env: { ...process.env, ...env, PORT: String(port) },
  });
  closeSync(log);
  const pid = proc.pid!;
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) =>
      reject(new Error(`dist/main.js exited (${code}) before it was ready`)),
    ),
  );
  await Promise.race([exited, waitReady(port)]);
  let cpuAtMark = cpuMs(pid);
  return {
    proc,
    mark: () => {
      cpuAtMark = cpuMs(pid);
    },
    report: async () => ({ cpuMs: cpuMs(pid) - cpuAtMark, maxRssKb: peakRssKb(pid) }),
    stop: () => stopChild(proc, 30_000),
  };
}

async function waitReady(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`dist/main.js did not report ready on :${port} within 30 s`);
}
