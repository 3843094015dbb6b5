/**
 * The operator CLI, built and run as a subprocess against a real worker and Redis: a partner
 * (127.0.0.1) answering 503, another destination (127.0.0.2) refusing connections, a held job
 * and a completed one. Retry by host must touch only that host's failures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';

let h: Harness;
let up: Upstream;
let env: Record<string, string>;
let partnerDown = true;
const ids = { a: [] as string[], b: [] as string[], held: '', done: '' };

const add = async (data: ReturnType<typeof jobData>, attempts: number) => {
  const job = await h.queue.add('invoke', data, {
    jobId: idempotencyKey(data),
    attempts,
    backoff: { type: 'fixed', delay: 10 },
  });
  return job.id!;
};
const cli = (...args: string[]) => runCli(args, env);

beforeAll(async () => {
  ensureBuilt();
  up = await startUpstream((r, res) =>
    r.url.startsWith('/held')
      ? json(res, 500, { e: 1 })
      : partnerDown && r.url.startsWith('/a')
        ? json(res, 503, { down: true })
        : json(res, 200, { points: 1 }),
  );
  h = await startHarness({ INVOKE_ALLOW_PRIVATE: '127.0.0.0/8' });
  env = { ...h.ns.env, INVOKE_ALLOW_PRIVATE: '127.0.0.0/8', INVOKE_REDIS_STARTUP_GRACE_MS: '3000' };
  for (let i = 0; i < 3; i++)
    ids.a.push(await add(jobData({ request: { url: `${up.url}/a/{{ customer.id }}` } }), 2));
  for (let i = 0; i < 2; i++)
    ids.b.push(
      await add(
        jobData({ journeyId: 'other-flow', request: { url: `http://127.0.0.2:${up.port}/b` } }),
        1,
      ),
    );
  ids.held = await add(jobData({ onFailure: 'hold', request: { url: `${up.url}/held` } }), 1);
  ids.done = await add(jobData({ request: { url: `${up.url}/ok` } }), 1);
  for (const id of [...ids.a, ...ids.b, ids.held]) await waitForJob(h.queue, id, 'failed');
  await waitForJob(h.queue, ids.done, 'completed');
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

describe('invoke-api CLI (built, as a subprocess)', { timeout: 240_000 }, () => {
  it('every command has --help', async () => {
    const cmds = [
      'status',
      'failed',
      'inspect',
      'retry',
      'discard',
      'pause',
      'resume',
      'clean',
      'try',
    ];
    const runs = await Promise.all(cmds.map((cmd) => cli(cmd, '--help')));
    runs.forEach((r, i) => {
      expect(r.code, cmds[i]).toBe(0);
      expect(r.stdout).toContain(`Usage: invoke-api ${cmds[i]}`);
    });
    const bad = await cli('failed', '--group-by', 'runId');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/group-by/);
  });

  it('status: counts, recent failure rate, workers', async () => {
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    const s = r.json();
    expect(s.counts).toMatchObject({ failed: 6, completed: 1, waiting: 0 });
    expect(s.recent).toMatchObject({ failed: 6, completed: 1 });
    expect(s.recent.failureRate).toBeCloseTo(6 / 7);
    expect(s.workers.length).toBeGreaterThanOrEqual(1);
    const text = await cli('status');
    expect(text.stdout).toMatch(/failed\s+6/);
    expect(text.stdout).toMatch(/failure rate 85\.7%/);
  });

  it('failed: lists and groups with filters', async () => {
    // Independent reads, run side by side.
    const [all, byHost2, byCode, byStatus, byJourney, groups, table, badSince, held] =
      await Promise.all([
        cli('failed', '--json'),
        cli('failed', '--host', '127.0.0.2', '--json'),
        cli('failed', '--code', 'connect_error', '--json'),
        cli('failed', '--status', '503', '--since', '1h', '--json'),
        cli('failed', '--journey', 'other-flow', '--json'),
        cli('failed', '--group-by', 'host', '--json'),
        cli('failed', '--group-by', 'code'),
        cli('failed', '--since', 'yesterday'),
        cli('failed', '--held', '--json'),
      ]);
    expect(held.json().failures.map((x: any) => x.id)).toEqual([ids.held]);
    expect(all.json().failures).toHaveLength(6);
    const a = all.json().failures.find((f: any) => f.id === ids.a[0]);
    expect(a).toMatchObject({
      host: '127.0.0.1',
      code: 'HTTP_STATUS',
      status: 503,
      attempts: 2,
      journey: 'welcome-flow',
      held: false,
    });
    expect(
      byHost2
        .json()
        .failures.map((f: any) => f.id)
        .sort(),
    ).toEqual([...ids.b].sort());
    expect(byCode.json().failures).toHaveLength(2);
    expect(byStatus.json().failures).toHaveLength(3);
    expect(byJourney.json().failures).toHaveLength(2);
    expect(groups.json().groups).toEqual([
      { key: '127.0.0.1', count: 4, example: expect.any(String) },
      { key: '127.0.0.2', count: 2, example: expect.any(String) },
    ]);
    expect(table.stdout).toMatch(/HTTP_STATUS\s+4/);
    expect(table.stdout).toMatch(/CONNECT_ERROR\s+2/);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toContain('since: "yesterday"');
  });

  it('inspect: attempts with codes, log, saved envelope and emitted event', async () => {
    const [r, text, missing] = await Promise.all([
      cli('inspect', ids.a[0]!, '--json'),
      cli('inspect', ids.a[0]!),
      cli('inspect', 'nope'),
    ]);
    expect(r.code).toBe(0);
    const j = r.json();
    expect(j.state).toBe('failed');
    expect(j.attempts.map((x: any) => [x.n, x.status, x.code, x.outcome])).toEqual([
      [1, 503, 'HTTP_STATUS', 'retry'],
      [2, 503, 'HTTP_STATUS', 'failed'],
    ]);
    expect(j.logs[0]).toMatch(
      /^GET 127\.0\.0\.1\/a\/cus-123 -> 503 in \d+ ms HTTP_STATUS \(attempt 1, retry\)$/,
    );
    expect(j.data.request.url).toContain('{{ customer.id }}');
    expect(j.envelope).toMatchObject({
      ok: false,
      status: 503,
      attempts: 2,
      error: { code: 'HTTP_STATUS' },
    });
    expect(j.events).toHaveLength(1);
    expect(j.events[0]).toMatchObject({
      type: 'invoke.failed',
      errorCode: 'HTTP_STATUS',
      jobId: ids.a[0],
    });
    expect(text.stdout).toContain('saved envelope:');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no job nope');
  });

  it('retry --failed --host: dry run changes nothing; then retries only that host, fresh attempts, and is safe twice', async () => {
    const dry = await cli('retry', '--failed', '--host', '127.0.0.1', '--dry-run', '--json');
    expect(dry.json()).toMatchObject({ dryRun: true, matched: 4 });
    expect(await (await h.queue.getJob(ids.a[0]!))!.getState()).toBe('failed');
    partnerDown = false;
    const r = await cli('retry', '--failed', '--host', '127.0.0.1');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('4 matched');
    expect(r.stdout).toContain('4 retried');
    for (const id of ids.a) await waitForJob(h.queue, id, 'completed');
    await waitForJob(h.queue, ids.held, 'failed');
    // A fresh set of attempts: the retried call succeeded on its first new attempt.
    const a0 = (await h.queue.getJob(ids.a[0]!))!;
    expect(a0.attemptsMade).toBe(1);
    expect((await h.context(a0.data.runId)).loyalty).toMatchObject({ ok: true, attempts: 1 });
    for (const id of ids.b) {
      const b = (await h.queue.getJob(id))!;
      expect(await b.getState()).toBe('failed');
      expect(b.attemptsMade).toBe(1);
    }
    const again = await cli(
      'retry',
      '--failed',
      '--host',
      '127.0.0.1',
      '--code',
      'HTTP_STATUS',
      '--status',
      '503',
      '--json',
    );
    expect(again.code).toBe(0);
    expect(again.json()).toMatchObject({ matched: 0, done: [] });
    const notFailed = await cli('retry', ids.a[1]!, '--json');
    expect(notFailed.code).toBe(0);
    expect(notFailed.json().skipped).toEqual([{ id: ids.a[1], reason: 'not failed (completed)' }]);
    expect((await cli('retry', 'no-such-job')).code).toBe(1);
    expect((await cli('retry')).code).toBe(2);
  });

  it('discard: a held job emits invoke.failed DISCARDED and leaves; continue jobs are only removed', async () => {
    const held = (await h.queue.getJob(ids.held))!;
    const r = await cli('discard', ids.held, '--json');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ matched: 1, done: [ids.held], removed: [] });
    expect(await h.queue.getJob(ids.held)).toBeUndefined();
    const events = (await h.events()).filter((e) => e.jobId === ids.held);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'invoke.failed',
        errorCode: 'DISCARDED',
        eventId: ids.held,
        status: '500',
        runId: held.data.runId,
      }),
    ]);
    expect((await h.context(held.data.runId)).loyalty).toMatchObject({
      ok: false,
      error: { code: 'DISCARDED', retryable: false },
    });

    const b = await cli('discard', '--failed', '--journey', 'other-flow');
    expect(b.stdout).toContain('2 removed without emitting');
    for (const id of ids.b)
      expect((await h.events()).filter((e) => e.jobId === id).map((e) => e.errorCode)).toEqual([
        'CONNECT_ERROR',
      ]);
    expect((await cli('failed', '--json')).json().failures).toHaveLength(0);
  });

  it('pause, resume and clean', async () => {
    expect((await cli('pause')).stdout).toContain('paused');
    expect(await h.queue.isPaused()).toBe(true);
    expect((await cli('status', '--json')).json().paused).toBe(true);
    expect((await cli('resume', '--json')).json()).toEqual({ paused: false });
    expect(await h.queue.isPaused()).toBe(false);
    expect((await cli('clean', '--older-than', '1d')).code).toBe(2);
    const kept = (await cli('clean', '--completed', '--older-than', '1h', '--json')).json();
    expect(kept.removed).toEqual({ completed: 0 });
    const r = (await cli('clean', '--completed', '--older-than', '0s', '--json')).json();
    expect(r.removed.completed).toBe(4);
    expect(await h.queue.getCompletedCount()).toBe(0);
  });

  it('try: sends one step now and prints the envelope, saving and emitting nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'invoke-try-'));
    const step = jobData({ request: { url: `${up.url}/ok/{{ customer.id }}` } });
    writeFileSync(join(dir, 'step.json'), JSON.stringify(step));
    writeFileSync(join(dir, 'data.json'), JSON.stringify({ customer: { id: 'cus-9' } }));
    const before = up.requests.length;
    const r = await cli('try', join(dir, 'step.json'), '--data', join(dir, 'data.json'), '--json');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      request: { method: 'GET', url: `${up.url}/ok/cus-9` },
      envelope: { ok: true, status: 200, body: { points: 1 } },
    });
    expect(up.requests.slice(before).map((x) => x.url)).toEqual(['/ok/cus-9']);
    expect(await h.context(step.runId)).toEqual({});
    const bad = await cli('try', join(dir, 'missing.json'));
    expect(bad.code).toBe(2);
  });

  it('exits 3 when Redis is unreachable', async () => {
    const r = await runCli(['status'], {
      ...env,
      REDIS_URL: 'redis://127.0.0.1:1',
      INVOKE_REDIS_STARTUP_GRACE_MS: '300',
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('Redis unreachable');
  });
});
