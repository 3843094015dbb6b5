/**
 * Every shell command in the README, run as written against a started service (dist/main.js)
 * and a mock partner, in this test's own Redis namespace. Only the ports differ: 8080 and 9000
 * become free ones, in the commands and in a copy of examples/. A command the test cannot run
 * must be listed in NOT_RUN with the reason; a new README command is run (or the test fails).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { freePort } from '../helpers/redis-server.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { startMockPartner, type MockPartner } from '../../scripts/mock-partner.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'readme-token-0123456789abcdef';

/** Commands not run here, each with why; every entry must still match a README command. */
const NOT_RUN: [RegExp, string][] = [
  [
    /^npm ci && npm (start|test)\b/,
    'installs and runs the whole checkout: what the CI job itself does',
  ],
  [
    /^node scripts\/mock-partner\.mjs --port 9000 &/,
    'the test starts the same mock partner on a free port',
  ],
  [
    /^INVOKE_ALLOW_PRIVATE=127\.0\.0\.1\/32 npm start &/,
    'the test starts dist/main.js with the same variable on a free port',
  ],
];

interface Command {
  text: string;
  line: number;
  expected: string | undefined;
}

/** The README's ```sh blocks as commands (continuation lines joined), each with the `# ...` line after it. */
function readmeCommands(markdown: string): Command[] {
  const commands: Command[] = [];
  const lines = markdown.split('\n');
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^```/.test(line)) {
      inSh = !inSh && line.trim() === '```sh';
      continue;
    }
    if (!inSh || !line.trim()) continue;
    if (line.startsWith('#')) {
      const last = commands.at(-1);
      if (last && last.expected === undefined) last.expected = line.slice(1).trim();
      continue;
    }
    let text = line;
    const start = i + 1;
    while (text.endsWith('\\')) text = `${text.slice(0, -1)} ${lines[++i]!.trim()}`;
    commands.push({ text: text.replace(/\s+#.*$/, '').trim(), line: start, expected: undefined });
  }
  return commands;
}

const commands = readmeCommands(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
const skipped = (c: Command) => NOT_RUN.find(([re]) => re.test(c.text));

describe('README shell commands', { timeout: 180_000 }, () => {
  const ns = namespace('readme');
  const redis = redisClient();
  let partner: MockPartner;
  let service: WorkerProcess;
  let dir: string;
  let env: Record<string, string>;
  let port: number;

  beforeAll(async () => {
    partner = await startMockPartner();
    port = await freePort();
    service = await startWorker(
      {
        ...ns.env,
        PORT: String(port),
        INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
        INVOKE_API_TOKEN: TOKEN,
      },
      { timeoutMs: 90_000 },
    );
    // A working directory with examples/ pointing at the mock partner, and invoke-api on PATH.
    dir = mkdtempSync(path.join(tmpdir(), 'readme-'));
    mkdirSync(path.join(dir, 'examples'));
    mkdirSync(path.join(dir, 'bin'));
    for (const f of readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.json'))) {
      writeFileSync(
        path.join(dir, 'examples', f),
        readFileSync(path.join(ROOT, 'examples', f), 'utf8').replaceAll(
          'http://127.0.0.1:9000',
          partner.url,
        ),
      );
    }
    symlinkSync(path.join(ROOT, 'bin/invoke-api.js'), path.join(dir, 'bin/invoke-api'));
    env = {
      ...ns.env,
      PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`,
      INVOKE_API_TOKEN: TOKEN,
      HOME: dir,
    };
  }, 120_000);
  afterAll(async () => {
    await service?.stop();
    await partner?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await cleanNamespace(redis, ns);
    await redis.quit();
  });

  const run = (cmd: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const text = cmd.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`);
      execFile(
        'bash',
        ['-c', `set -euo pipefail\n${text}`],
        { cwd: dir, env, timeout: 60_000 },
        (err, stdout, stderr) =>
          resolve({
            code: err ? Number((err as { code?: number }).code ?? 99) : 0,
            stdout,
            stderr,
          }),
      );
    });

  it('finds the README commands, and every NOT_RUN entry still names one', () => {
    expect(commands.length).toBeGreaterThan(5);
    for (const [re] of NOT_RUN)
      expect(
        commands.some((c) => re.test(c.text)),
        String(re),
      ).toBe(true);
  });

  it('runs each feasible command as written: exit 0, and the JSON answer shown under it', async () => {
    for (const c of commands.filter((c) => !skipped(c))) {
      const r = await run(c.text);
      expect(r.code, `README line ${c.line}: ${c.text}\n${r.stderr}`).toBe(0);
      expect(r.stdout, `README line ${c.line}: ${c.text}`).not.toMatch(/"error":"/); // curl exits 0 on a 4xx too (an envelope's "error":null is fine)
      const shown = c.expected?.match(/^\d{3} (\{.*\})$/)?.[1];
      if (shown && !shown.includes('...'))
        expect(JSON.parse(r.stdout), `README line ${c.line}`).toEqual(JSON.parse(shown));
    }
  });

  it('the example step ran: completed, with the partner answer saved', async () => {
    const status = async () =>
      (await (
        await fetch(`http://127.0.0.1:${port}/v1/invocations/ik.run-example-1.fetch-loyalty.1`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()) as { state: string; envelope: unknown };
    await waitFor(
      async () => (await status()).state === 'completed' || undefined,
      'example step completed',
      30_000,
    );
    expect((await status()).envelope).toMatchObject({
      ok: true,
      status: 200,
      body: { points: 1200, tier: 'gold' },
    });
    for (const id of ['ik.run-example-2.fetch-loyalty.1', 'ik.run-example-3.fetch-loyalty.1']) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/invocations/${id}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(r.status, id).toBe(200);
    }
  });
});
