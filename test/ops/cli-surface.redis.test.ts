/**
 * The CLI as a newcomer meets it: through the bin launcher (before and after a build), piped
 * into a reader that closes early, and with --json feeding another program.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/invoke-api.js');
const ns = namespace('clisurf');
const redis = redisClient();
afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

function runNode(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

describe('the bin launcher', () => {
  it('says to build first when dist/ is missing, in one line, exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'invoke-bin-'));
    try {
      mkdirSync(path.join(dir, 'bin'));
      copyFileSync(BIN, path.join(dir, 'bin/invoke-api.js'));
      const r = await runNode([path.join(dir, 'bin/invoke-api.js'), 'status']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'invoke-api: the CLI is not built yet (dist/cli/index.js is missing): run `npm run build` in the package directory first\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the built CLI', async () => {
    ensureBuilt();
    const r = await runNode([BIN, 'status', '--json'], ns.env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ counts: expect.any(Object) });
  });
});

describe('output into a pipe', () => {
  it('exits 0 without a stack trace when the reader has gone (status | head -1)', async () => {
    ensureBuilt();
    const child = spawn(process.execPath, [BIN, 'status'], {
      env: { PATH: process.env.PATH ?? '', ...ns.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // the reader closes before the first line is written
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('--json', () => {
  const commands = [
    ['status'],
    ['failed'],
    ['failed', '--group-by', 'code'],
    ['retry', '--failed', '--dry-run'],
    ['discard', '--failed', '--dry-run'],
    ['clean', '--completed', '--older-than', '7d'],
    ['pause'],
    ['resume'],
    ['breaker', 'list'],
  ];
  it.each(commands)(
    'invoke-api %s ... --json prints only JSON on stdout, even with a warning to give',
    async (...args) => {
      ensureBuilt();
      const r = await runCli([...args, '--json'], { ...ns.env, INVOKE_CONCURENCY: '5' });
      expect(r.code, r.stderr).toBe(0);
      expect(() => JSON.parse(r.stdout)).not.toThrow();
      expect(r.stderr).toContain('did you mean INVOKE_CONCURRENCY?'); // the warning goes to stderr
    },
  );
});
