/**
 * The attempt pipeline's story with its I/O passed in as plain functions: no Redis, no partner,
 * no BullMQ. The worker and the dry run run this same pipeline (their Redis tests cover the I/O).
 */
import { describe, expect, it } from 'vitest';
import {
  type Attempt,
  type AttemptIO,
  attemptKind,
  createAttemptPipeline,
  validate,
} from '../../src/attempt/pipeline.js';
import { createAuthStage } from '../../src/auth/stage.js';
import type { TokenCache } from '../../src/auth/token-cache.js';
import { createResponseCache } from '../../src/cache/response-cache.js';
import type { CacheStore } from '../../src/cache/store.js';
import type { Secret } from '../../src/config.js';
import { InvokeError, isInvokeError } from '../../src/contract/errors.js';
import type { HttpResult, SendOptions } from '../../src/http/call.js';
import { createRenderer, type RenderedRequest } from '../../src/template/render.js';
import { jobData } from '../helpers/harness.js';

const LIMITS = { retryAfterMaxMs: 60_000, maxErrorBodyBytes: 1024 };

/** A scripted partner: each send takes the next reply (an answer, or our error to throw). */
type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | InvokeError;

function partner(replies: Reply[]) {
  const sent: RenderedRequest[] = [];
  async function send(req: RenderedRequest, opts: SendOptions): Promise<HttpResult> {
    sent.push(req);
    const r = replies.shift();
    if (r === undefined) throw new Error('no reply scripted');
    if (r instanceof InvokeError) throw r;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...r.headers };
    const body = Buffer.from(r.body === undefined ? '' : JSON.stringify(r.body));
    const url = opts.url ?? new URL(req.url);
    return {
      status: r.status,
      headers,
      retryAfter: headers['retry-after'],
      body,
      truncated: false,
      overLimit: false,
      url,
    };
  }
  return { sent, send };
}

function setup(replies: Reply[], io: Partial<AttemptIO<Attempt>> = {}) {
  const http = partner(replies);
  const pipeline = createAttemptPipeline<Attempt>({
    renderer: createRenderer(),
    http,
    limits: LIMITS,
    secrets: new Map<string, Secret>(),
    scrub: (t) => t,
    readContext: async () => ({ earlier: { body: { tier: 'gold' } } }),
    callbackScope: () => ({ token: 'icb_test' }),
    idempotencyValue: () => 'evt-1',
    ...io,
  });
  return { pipeline, sent: http.sent };
}

function attempt(over: Parameters<typeof jobData>[0] = {}, enqueuedAt = Date.now()): Attempt {
  const job = validate(jobData(over));
  if (isInvokeError(job)) throw job;
  return {
    job,
    view: undefined,
    enqueuedAt,
    number: 1,
    request: undefined,
    url: undefined,
    response: undefined,
    scrub: undefined,
    auth: undefined,
  };
}

describe('attempt pipeline', () => {
  it('success: renders from data and context, sends once, saves the picked body', async () => {
    const { pipeline, sent } = setup([{ status: 200, body: { points: 120, noise: 'x' } }]);
    const a = attempt({
      request: {
        url: 'http://partner.test/loyalty/{{ customer.id }}?tier={{ context.earlier.body.tier }}',
        idempotencyHeader: 'Idempotency-Key',
      },
      save: { variable: 'loyalty', pick: { points: 'body.points' } },
    });
    const outcome = await pipeline.run(a);
    expect(outcome).toMatchObject({
      ok: true,
      status: 200,
      body: { points: 120 },
      error: undefined,
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe('http://partner.test/loyalty/cus-123?tier=gold');
    expect(sent[0]!.headers['idempotency-key']).toBe('evt-1');
    expect(a.url?.hostname).toBe('partner.test');
    expect(a.response?.status).toBe(200);
    expect(attemptKind(outcome, a, 3)).toBe('completed');
  });

  it('permanent: a 404 is HTTP_STATUS, not retried even with attempts left', async () => {
    const { pipeline } = setup([{ status: 404, body: { error: 'no such customer' } }]);
    const a = attempt();
    const outcome = await pipeline.run(a);
    expect(outcome.error).toMatchObject({ code: 'HTTP_STATUS', retryable: false, status: 404 });
    expect(outcome.body).toEqual({ error: 'no such customer' });
    expect(attemptKind(outcome, a, 5)).toBe('failed');
    expect(attemptKind(outcome, attempt({ onFailure: 'hold' }), 5)).toBe('held');
  });

  it('transient: a 503 with Retry-After and a refused connection are retried while attempts last', async () => {
    const refused = new InvokeError('CONNECT_ERROR', 'partner.test: connection refused');
    const { pipeline } = setup([{ status: 503, headers: { 'retry-after': '2' } }, refused]);
    const first = attempt();
    const busy = await pipeline.run(first);
    expect(busy.error).toMatchObject({ code: 'HTTP_STATUS', retryable: true, retryAfterMs: 2000 });
    expect(attemptKind(busy, first, 3)).toBe('retry');
    const last = { ...attempt(), number: 3 };
    const down = await pipeline.run(last);
    expect(down.error).toMatchObject({ code: 'CONNECT_ERROR', retryable: true });
    expect(attemptKind(down, last, 3)).toBe('failed');
  });

  it('expect failure: a 2xx the rules reject is UNEXPECTED_RESPONSE, retried only by expect.retry', async () => {
    const { pipeline } = setup([
      { status: 200, body: { state: 'pending' } },
      { status: 200, body: { state: 'refused' } },
    ]);
    const rules = {
      success: "response.body.state == 'done'",
      retry: "response.body.state == 'pending'",
    };
    const pending = await pipeline.run(attempt({ expect: rules }));
    expect(pending.error).toMatchObject({
      code: 'UNEXPECTED_RESPONSE',
      retryable: true,
      status: 200,
    });
    const refused = await pipeline.run(attempt({ expect: rules }));
    expect(refused.error).toMatchObject({ code: 'UNEXPECTED_RESPONSE', retryable: false });
    expect(refused.body).toEqual({ state: 'refused' });
  });

  it('cache hit: the second job with the same key takes the kept result without a call', async () => {
    const entries = new Map<string, string>();
    const store = {
      lookup: async (keys: { entry: string }) => {
        const value = entries.get(keys.entry);
        return value === undefined ? { kind: 'lead' as const } : { kind: 'hit' as const, value };
      },
      put: async (keys: { entry: string }, value: string) => {
        entries.set(keys.entry, value);
        return 0;
      },
      release: async () => 0,
      forget: async () => 0,
    } as unknown as CacheStore;
    const cache = createResponseCache(store, {
      prefix: 'c:',
      maxEntryBytes: 10_000,
      budget: { maxBytes: 1e6, maxEntries: 100 },
      defaultTimeoutMs: 1000,
    });
    const { pipeline, sent } = setup([{ status: 200, body: { rate: 1.1 } }], { cache });
    const step = {
      request: { url: 'http://partner.test/rates' },
      cache: { key: 'rates-{{ customer.id }}', ttlSeconds: 60 },
    };
    const miss = await pipeline.run(attempt(step));
    const hit = await pipeline.run(attempt(step));
    expect(sent).toHaveLength(1);
    expect(miss).toMatchObject({ ok: true, cache: 'miss', body: { rate: 1.1 } });
    expect(hit).toMatchObject({ ok: true, cache: 'hit', status: 200, body: { rate: 1.1 } });
  });

  it('auth: a 401 drops the OAuth2 token and sends once more with a new one, in the same attempt', async () => {
    const { send, sent } = partner([{ status: 401 }, { status: 200, body: { ok: true } }]);
    const issued = ['tok-old', 'tok-new'];
    const dropped: string[] = [];
    const tokens = {
      get: async () => ({ value: issued[0]!, sealed: issued[0]!, fetched: false }),
      invalidate: async (_ref: unknown, held: { value: string }) => {
        dropped.push(held.value);
        issued.shift();
      },
    } as unknown as TokenCache;
    const credential = {
      type: 'oauth2_client_credentials' as const,
      hosts: ['partner.test'],
      tokenUrl: 'https://auth.test/token',
      clientId: 'id',
      clientSecret: 'cs',
      clientAuth: 'basic' as const,
    };
    const resolve = async (_tenant: string | undefined, name: string) => ({
      name,
      source: 'platform' as const,
      credential,
      scope: `platform:${name}`,
    });
    const auth = createAuthStage({ http: { send }, resolve, tokens });
    const { pipeline } = setup([], { http: { send }, auth });
    const a = attempt({
      request: { url: 'http://partner.test/me', auth: { credential: 'PARTNER' } },
    });
    const outcome = await pipeline.run(a);
    expect(outcome).toMatchObject({ ok: true, status: 200 });
    expect(sent.map((r) => r.headers.authorization)).toEqual(['Bearer tok-old', 'Bearer tok-new']);
    expect(dropped).toEqual(['tok-old']);
    expect(a.auth).toMatchObject({
      credential: 'PARTNER',
      type: 'oauth2_client_credentials',
      token: 'obtained',
      retriedAfter401: true,
    });
  });

  it('expire: past deadlineMs the attempt is EXPIRED without rendering or calling', async () => {
    const { pipeline, sent } = setup([{ status: 200 }]);
    const a = attempt({ deadlineMs: 1000 }, Date.now() - 5000);
    const outcome = await pipeline.run(a);
    expect(outcome.error).toMatchObject({ code: 'EXPIRED', retryable: false });
    expect(sent).toHaveLength(0);
    expect(a.request).toBeUndefined();
  });

  it('validate and render: bad data and a broken template are permanent, named errors', async () => {
    const bad = validate({ ...jobData(), save: { variable: '1x' } });
    expect(bad).toMatchObject({ code: 'INVALID_JOB', retryable: false });
    expect((bad as InvokeError).detail).toContain('save.variable');
    const { pipeline, sent } = setup([]);
    const outcome = await pipeline.run(
      attempt({ request: { url: 'http://partner.test/{{ customer.id | nosuchfilter }}' } }),
    );
    expect(outcome.error).toMatchObject({ code: 'TEMPLATE_ERROR', retryable: false });
    expect(sent).toHaveLength(0);
  });

  it('limits: beforeCall holds across the call and is released; its error fails the attempt; a foreign one propagates', async () => {
    const events: string[] = [];
    const beforeCall = async (_a: Attempt, url: URL) => {
      events.push(`hold ${url.host}`);
      return () => events.push('release');
    };
    const ok = setup([{ status: 200 }], { beforeCall });
    await ok.pipeline.run(attempt({ request: { url: 'http://partner.test/' } }));
    expect(events).toEqual(['hold partner.test', 'release']);

    const open = new InvokeError('CIRCUIT_OPEN', 'partner.test: circuit breaker open');
    const held = setup([{ status: 200 }], { beforeCall: async () => Promise.reject(open) });
    expect((await held.pipeline.run(attempt())).error).toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(held.sent).toHaveLength(0);

    const delayed = setup([], {
      beforeCall: async () => Promise.reject(new RangeError('moved to delayed')),
    });
    await expect(delayed.pipeline.run(attempt())).rejects.toThrow(RangeError);
  });

  it('scrubs a secret a partner echoed into an error detail', async () => {
    const echoed = new InvokeError('HTTP_STATUS', 'partner.test answered 400 for key s3cr3t', {
      status: 400,
    });
    const { pipeline } = setup([echoed], { scrub: (t) => t.replaceAll('s3cr3t', '[REDACTED]') });
    const outcome = await pipeline.run(attempt());
    expect(outcome.error?.detail).toBe('partner.test answered 400 for key [REDACTED]');
  });
});
