/**
 * The worker as production runs it: `node --max-semi-space-size=32 dist/main.js` (what `npm start`
 * runs after the build; the arguments read from package.json)
 * in a child process, with only the environment the test gives it. stdout JSON log lines are
 * collected and parsed; stderr is kept for failure messages.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startArgs } from '../../scripts/start-command.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(ROOT, 'dist/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ when it is missing or older than src/ (npm test builds first, so usually a
 * no-op). A lock dir keeps parallel test files from running tsc at the same time.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = path.join(ROOT, '.build-lock');
  for (;;) {
    const fresh = existsSync(MAIN) && statSync(MAIN).mtimeMs >= newestMtime(path.join(ROOT, 'src'));
    if (fresh) return;
    try {
      mkdirSync(lock);
    } catch {
      // Another file is building; a lock left by a killed run goes stale after 3 minutes.
      const st = statSync(lock, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
      return;
    } finally {
      rmdirSync(lock);
    }
  }
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface WorkerProcess {
  proc: ChildProcess;
  pid: number;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  hasLog(pred: (l: LogLine) => boolean): boolean;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM then wait; SIGKILL if it is still there after timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Start-up can take long on a loaded CI box (node loads BullMQ, got, fastify...): wait up to a minute. */
export async function startWorker(
  env: Record<string, string>,
  opts: { waitFor?: string | null; timeoutMs?: number } = {},
): Promise<WorkerProcess> {
  await ensureBuilt();
  const proc = spawn(process.execPath, [...startArgs().slice(0, -1), MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let err = '';
  let partial = '';
  proc.stdout!.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: `(not JSON) ${line}` });
      }
    }
  });
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));

  const hasLog = (pred: (l: LogLine) => boolean) => logs.some(pred);
  async function waitForLog(
    pred: (l: LogLine) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (gone || Date.now() > until)
        throw new Error(
          `${gone ? 'worker exited' : 'timed out'} waiting for log "${what}"; stderr: ${err.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const w: WorkerProcess = {
    proc,
    pid: proc.pid!,
    logs,
    stderr: () => err,
    exited,
    waitForLog,
    hasLog,
    signal: (sig) => void proc.kill(sig),
    async stop(timeoutMs = 10_000) {
      if (gone) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
  // null: the caller waits its own way (e.g. LOG_LEVEL=warn hides the start line).
  if (opts.waitFor !== null) {
    await waitForLog(
      (l) => l.msg === (opts.waitFor ?? 'worker started'),
      opts.waitFor ?? 'worker started',
      opts.timeoutMs ?? 60_000,
    ).catch((err) => {
      proc.kill('SIGKILL'); // never leave an orphan worker behind a failed start
      throw err;
    });
  }
  return w;
}

/** Log lines that must never appear: an unhandled rejection or an uncaught exception. */
export const isCrashLog = (l: LogLine) => /unhandled rejection|uncaught/i.test(String(l.msg ?? ''));
