/**
 * OAuth2 client credentials end to end: a real worker (in-process), real Redis, and a real
 * token server and partner on loopback (token-server.ts). Each behaviour has its own token
 * server and credential, so the counts of token requests are exact.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { dumpNamespace } from '../helpers/redis.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { startTokenServer, type TokenServer } from './token-server.js';
import type { TokenEvent } from '../../src/auth/index.js';

const KEY = randomBytes(32).toString('base64');
const NAMES = [
  'MAIN',
  'REVOKE',
  'DENY',
  'SHORT',
  'NOEXP',
  'WRONG',
  'FLAKY',
  'LIMITED',
  'SLOW',
  'DOWN',
  'SKEW',
  'STORM',
] as const;
type Name = (typeof NAMES)[number];
const servers = {} as Record<Name, TokenServer>;
const clientSecrets = {} as Record<Name, string>;
let h: Harness;
/** What the metrics counter sees (auth/metrics.ts is fed by the same callback in main.ts). */
const tokenEvents: TokenEvent[] = [];
const fast = { attempts: 3, backoff: { type: 'fixed', delay: 30 } };

beforeAll(async () => {
  for (const name of NAMES) {
    clientSecrets[name] = `cs-${name}-${randomBytes(8).toString('hex')}`;
    servers[name] = await startTokenServer({ clientSecret: clientSecrets[name] });
  }
  servers.NOEXP.set({ expiresIn: undefined });
  servers.SHORT.set({ expiresIn: 2 });
  servers.SKEW.set({ date: new Date(Date.now() - 2 * 3600_000).toUTCString() });
  await servers.DOWN.close(); // connection refused from now on
  const env: Record<string, string> = {
    INVOKE_SECRETS_KEY: KEY,
    INVOKE_AUTH_TOKEN_TTL_SECONDS: '120',
    INVOKE_AUTH_TOKEN_TIMEOUT_MS: '2500',
  };
  for (const name of NAMES) {
    const clientSecret = name === 'WRONG' ? 'not-the-client-secret' : clientSecrets[name];
    env[`INVOKE_CREDENTIAL_${name}`] = JSON.stringify({
      type: 'oauth2_client_credentials',
      hosts: ['127.0.0.1'],
      tokenUrl: servers[name].tokenUrl,
      clientId: 'client-1',
      clientSecret,
      scope: 'loyalty:read',
    });
  }
  h = await startHarness(env, { auth: { onTokenRequest: (e) => tokenEvents.push(e) } });
});

afterAll(async () => {
  await h.close();
  for (const s of Object.values(servers)) await s.close().catch(() => undefined);
});

const job = (name: Name, over: Record<string, unknown> = {}) =>
  jobData({ request: { url: servers[name].partnerUrl, auth: { credential: name } }, ...over });
const tokenKey = (name: Name) => `${h.cfg.BULLMQ_PREFIX}:auth:{platform:${name}}:token`;

async function run(
  name: Name,
  opts: Record<string, unknown> = fast,
  state: 'completed' | 'failed' = 'completed',
) {
  const data = job(name);
  const added = await h.queue.add('invoke', data, opts);
  const done = await waitForJob(h.queue, added.id!, state);
  return { data, job: done!, envelope: (await h.context(data.runId)).loyalty };
}

describe('tokens are requested once and shared', () => {
  it('20 concurrent jobs: one token request, every call carries the Bearer token, the echoed token is not saved', async () => {
    const s = servers.MAIN;
    const jobs = await Promise.all(
      Array.from({ length: 20 }, () => h.queue.add('invoke', job('MAIN'), fast)),
    );
    await Promise.all(jobs.map((j) => waitForJob(h.queue, j.id!, 'completed')));
    // (A timeout well above a loaded machine's latency: a token request that timed out would
    // rightly be followed by a second one.)
    expect(s.tokenRequests()).toHaveLength(1);
    expect(tokenEvents.filter((e) => e.scope === 'platform:MAIN')).toEqual([
      { scope: 'platform:MAIN', outcome: 'issued' },
    ]);
    const [tokenReq] = s.tokenRequests();
    // RFC 6749 2.3.1: client_secret_basic by default, the grant and scope in the form body.
    const basic = String(tokenReq!.headers.authorization).replace(/^Basic /, '');
    expect(Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent)).toEqual([
      'client-1',
      clientSecrets.MAIN,
    ]);
    expect(Object.fromEntries(new URLSearchParams(tokenReq!.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'loyalty:read',
    });
    expect(s.partnerRequests().map((r) => r.headers.authorization)).toEqual(
      Array(20).fill(`Bearer ${s.issued[0]}`),
    );
    const saved = await h.context(jobs[0]!.data.runId);
    expect(saved.loyalty).toMatchObject({
      ok: true,
      body: { points: 42, echo: { authorization: 'Bearer [REDACTED]' } },
    });
  });

  it('keeps the token encrypted in Redis, expiring shortly before expires_in', async () => {
    const raw = await h.redis.get(tokenKey('MAIN'));
    expect(Object.keys(JSON.parse(raw!)).sort()).toEqual(['c', 'k', 'n']);
    expect(raw).not.toContain(servers.MAIN.issued[0]);
    const ttl = await h.redis.pttl(tokenKey('MAIN'));
    expect(ttl).toBeGreaterThan(3_400_000);
    expect(ttl).toBeLessThanOrEqual(3_540_000);
  });

  it('clock skew: a token answer dated two hours ago is still kept for its expires_in (Redis TTL, not clocks)', async () => {
    const { envelope } = await run('SKEW');
    expect(envelope.ok).toBe(true);
    expect(await h.redis.pttl(tokenKey('SKEW'))).toBeGreaterThan(3_400_000);
    await run('SKEW');
    expect(servers.SKEW.tokenRequests()).toHaveLength(1);
  });
});

describe('expiry and refusal', () => {
  it('a token of expires_in 2 s is dropped before it expires and a new one is requested', async () => {
    await run('SHORT');
    const ttl = await h.redis.pttl(tokenKey('SHORT'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1800);
    await waitFor(
      async () => (await h.redis.exists(tokenKey('SHORT'))) === 0,
      'the short token to leave the cache',
    );
    await run('SHORT');
    expect(servers.SHORT.tokenRequests()).toHaveLength(2);
    const used = servers.SHORT.partnerRequests().map((r) => r.headers.authorization);
    expect(used).toEqual([
      `Bearer ${servers.SHORT.issued[0]}`,
      `Bearer ${servers.SHORT.issued[1]}`,
    ]);
  });

  it('without expires_in a token is kept INVOKE_AUTH_TOKEN_TTL_SECONDS', async () => {
    await run('NOEXP');
    const ttl = await h.redis.pttl(tokenKey('NOEXP'));
    expect(ttl).toBeGreaterThan(110_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('a 401 from the partner drops the token and sends again at once with a new one, in the same attempt', async () => {
    const s = servers.REVOKE;
    await run('REVOKE');
    s.valid.clear(); // the authorization server revoked every token it issued
    const { job: done, envelope } = await run('REVOKE');
    expect(done.attemptsMade).toBe(1);
    expect(envelope).toMatchObject({ ok: true, attempts: 1 });
    expect(s.tokenRequests()).toHaveLength(2);
    expect(s.partnerRequests().map((r) => r.headers.authorization)).toEqual([
      `Bearer ${s.issued[0]}`,
      `Bearer ${s.issued[0]}`,
      `Bearer ${s.issued[1]}`,
    ]);
  });

  it('a partner that always answers 401 fails: one new token per attempt, never a loop', async () => {
    const s = servers.DENY;
    s.set({ partnerRefusesAll: true });
    const { job: done, envelope, data } = await run('DENY', fast, 'failed');
    expect(done.attemptsMade).toBe(1);
    expect(envelope).toMatchObject({
      ok: false,
      status: 401,
      error: { code: 'HTTP_STATUS', retryable: false },
    });
    expect(s.partnerRequests()).toHaveLength(2);
    expect(s.tokenRequests()).toHaveLength(2);
    expect((await h.events()).filter((e) => e.runId === data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'HTTP_STATUS' },
    ]);
  });
});

describe('token endpoint answers', () => {
  it('401 invalid_client: permanent AUTH_ERROR, no retry, no partner call, no secret in the error', async () => {
    const { job: done, envelope } = await run('WRONG', fast, 'failed');
    expect(done.attemptsMade).toBe(1);
    expect(envelope.error).toMatchObject({ code: 'AUTH_ERROR', retryable: false });
    expect(envelope.error.message).toMatch(/answered 401 invalid_client/);
    expect(envelope.status).toBeNull();
    expect(servers.WRONG.partnerRequests()).toHaveLength(0);
    expect(tokenEvents.filter((e) => e.scope === 'platform:WRONG')).toEqual([
      { scope: 'platform:WRONG', outcome: 'refused' },
    ]);
    expect(
      JSON.stringify(envelope) + done.failedReason + JSON.stringify(done.stacktrace),
    ).not.toContain('not-the-client-secret');
  });

  it('400 invalid_scope is a refusal too (permanent)', async () => {
    servers.FLAKY.set({ fail: [400, { error: 'invalid_scope' }] });
    const { job: done, envelope } = await run('FLAKY', fast, 'failed');
    expect(done.attemptsMade).toBe(1);
    expect(envelope.error).toMatchObject({ code: 'AUTH_ERROR', retryable: false });
    servers.FLAKY.set({ fail: undefined });
  });

  it('503 from the token endpoint: transient AUTH_ERROR, retried with the job backoff, then the call succeeds', async () => {
    const s = servers.FLAKY;
    s.set({ fail: [503, { error: 'temporarily_unavailable' }] });
    const data = job('FLAKY');
    const added = await h.queue.add('invoke', data, fast);
    await waitFor(
      async () => ((await h.queue.getJob(added.id!))?.attemptsMade ?? 0) >= 1 || undefined,
      'a first failed attempt',
    );
    s.set({ fail: undefined });
    await waitForJob(h.queue, added.id!, 'completed');
    expect((await h.context(data.runId)).loyalty).toMatchObject({ ok: true });
    expect((await h.queue.getJob(added.id!))!.attemptsMade).toBeGreaterThanOrEqual(2);
  });

  it('429 with Retry-After: 1 waits about a second before the next attempt', async () => {
    const s = servers.LIMITED;
    s.set({ fail: [429, { error: 'slow_down' }, { 'retry-after': '1' }] });
    const data = job('LIMITED');
    const added = await h.queue.add('invoke', data, {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
    });
    await waitFor(
      async () => s.tokenRequests().length >= 1 || undefined,
      'the first token request',
    );
    s.set({ fail: undefined });
    await waitForJob(h.queue, added.id!, 'completed');
    const [first, second] = s.tokenRequests();
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
  });

  it('a slow token endpoint times out (INVOKE_AUTH_TOKEN_TIMEOUT_MS): transient, and the next attempt gets its token', async () => {
    const s = servers.SLOW;
    s.set({ delayMs: 8000 });
    const data = job('SLOW');
    const added = await h.queue.add('invoke', data, {
      attempts: 4,
      backoff: { type: 'fixed', delay: 30 },
    });
    await waitFor(
      async () => ((await h.queue.getJob(added.id!))?.attemptsMade ?? 0) >= 1 || undefined,
      'a first failed attempt',
    );
    s.set({ delayMs: 0 });
    await waitForJob(h.queue, added.id!, 'completed');
    const logs = await h.queue.getJobLogs(added.id!);
    expect(logs.logs.join('\n')).toMatch(/AUTH_ERROR \(attempt 1, retry\)/);
  });

  it('20 concurrent jobs on a failing endpoint share one failed request, not one each', async () => {
    const s = servers.STORM;
    let open!: () => void;
    s.set({
      fail: [503, { error: 'temporarily_unavailable' }],
      gate: new Promise<void>((r) => (open = r)),
    });
    const jobs = await Promise.all(
      Array.from({ length: 20 }, () => h.queue.add('invoke', job('STORM'), { attempts: 1 })),
    );
    // The endpoint answers only once all 20 are running, i.e. waiting on the one request.
    await waitFor(
      async () =>
        (await Promise.all(jobs.map((j) => j.getState()))).every((st) => st === 'active') ||
        undefined,
      '20 active jobs',
    );
    open();
    await Promise.all(jobs.map((j) => waitForJob(h.queue, j.id!, 'failed')));
    expect(s.tokenRequests()).toHaveLength(1);
    for (const j of jobs)
      expect((await h.context(j.data.runId)).loyalty.error).toMatchObject({
        code: 'AUTH_ERROR',
        retryable: true,
      });
  });

  it('a token endpoint that is down: transient AUTH_ERROR on every attempt, then invoke.failed', async () => {
    const { job: done, envelope, data } = await run('DOWN', fast, 'failed');
    expect(done.attemptsMade).toBe(3);
    expect(envelope.error).toMatchObject({ code: 'AUTH_ERROR', retryable: true });
    expect(envelope.error.message).toMatch(
      /token endpoint 127\.0\.0\.1\/oauth\/token: CONNECT_ERROR/,
    );
    expect((await h.events()).filter((e) => e.runId === data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'AUTH_ERROR' },
    ]);
  });
});

describe('binding and leaks', () => {
  it('a credential is never sent outside its hosts: URL_BLOCKED at once, no token requested', async () => {
    const before = servers.MAIN.tokenRequests().length;
    const data = jobData({
      request: {
        url: servers.MAIN.partnerUrl.replace('127.0.0.1', 'localhost'),
        auth: { credential: 'MAIN' },
      },
    });
    const added = await h.queue.add('invoke', data, fast);
    const done = await waitForJob(h.queue, added.id!, 'failed');
    expect(done!.attemptsMade).toBe(1);
    expect((await h.context(data.runId)).loyalty.error).toMatchObject({
      code: 'URL_BLOCKED',
      message: expect.stringMatching(/credential MAIN may only be sent to 127\.0\.0\.1/),
    });
    expect(servers.MAIN.tokenRequests()).toHaveLength(before);
  });

  it('an unknown credential is a permanent AUTH_ERROR naming it', async () => {
    const data = jobData({
      request: { url: servers.MAIN.partnerUrl, auth: { credential: 'NOPE' } },
    });
    const added = await h.queue.add('invoke', data, fast);
    await waitForJob(h.queue, added.id!, 'failed');
    expect((await h.context(data.runId)).loyalty.error).toMatchObject({
      code: 'AUTH_ERROR',
      retryable: false,
      message: expect.stringMatching(/no platform credential named NOPE/),
    });
  });

  it('no token and no client secret in any Redis key or log line, in any spelling', async () => {
    const dump = await dumpNamespace(h.redis, h.ns);
    const logs = h.logs.join('\n');
    const tokens = Object.values(servers).flatMap((s) => s.issued);
    expect(tokens.length).toBeGreaterThan(8);
    const spellings = [...tokens, ...Object.values(clientSecrets)].flatMap((v) => [
      v,
      v.toUpperCase(),
      Buffer.from(v).toString('base64'),
      encodeURIComponent(v),
    ]);
    for (const v of spellings) {
      expect(dump).not.toContain(v);
      expect(logs).not.toContain(v);
    }
    // The check can fail: the dump holds the envelopes, events, job data and the sealed tokens.
    expect(dump).toContain('[REDACTED]');
    expect(dump).toContain('"k":');
  });
});
