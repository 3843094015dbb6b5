/** The dry run: renders and sends for real, masks what it shows, saves and emits nothing. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { createDryRun, type DryRun } from '../../src/dry-run/dry-run.js';
import { InvalidJobError } from '../../src/contract/invalid-job.js';
import { envelopeSchema } from '../../src/contract/envelope.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { contextKey } from '../../src/store/context.js';
import { closeBreaker, openBreaker } from '../../src/destinations/admin.js';
import { BREAKER_DEFAULTS } from '../../src/destinations/policy.js';
import { createDestinationStore } from '../../src/destinations/store.js';
import { jobData } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import {
  cleanNamespace,
  dumpNamespace,
  namespace,
  namespaceKeys,
  redisClient,
} from '../helpers/redis.js';

const SECRET = 'sk_live_DRYRUN_secret_42';
const ns = namespace('dry');
const redis = redisClient();
let up: Upstream;
let cfg: Config;
let dry: DryRun;

beforeAll(async () => {
  up = await startUpstream();
  cfg = loadConfig({
    ...ns.env,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_SECRET_LOYALTY_TOKEN: SECRET,
  });
  dry = createDryRun(cfg);
});
afterAll(async () => {
  await dry.close();
  await up.close();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

const keysOfNamespace = async () =>
  (await redis.scan('0', 'MATCH', `test:${ns.id}:*`, 'COUNT', 1000))[1];

describe('dry run', () => {
  it('sends the rendered request and returns the envelope the worker would save, secrets masked', async () => {
    up.handle((r, res) => json(res, 200, { points: 5, echo: r.headers.authorization }));
    const data = jobData({
      request: {
        method: 'POST',
        url: `${up.url}/l/{{ customer.id }}?api_key=literal123`,
        headers: { Authorization: 'Bearer {{ secrets.LOYALTY_TOKEN }}', 'X-Trace': 'abc' },
        body: { k: '{{ secrets.LOYALTY_TOKEN }}', email: '{{ customer.email }}' },
      },
    });
    const result = await dry.run(data);
    expect(up.requests.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(result.request).toMatchObject({
      method: 'POST',
      headers: {
        authorization: 'Bearer [REDACTED]',
        'x-trace': 'abc',
        'content-type': 'application/json',
      },
      body: { k: '[REDACTED]', email: 'a@b.co' },
    });
    expect(new URL(result.request!.url).searchParams.get('api_key')).toBe('[REDACTED]');
    const env = envelopeSchema.parse(result.envelope);
    expect(env).toMatchObject({
      ok: true,
      status: 200,
      attempts: 1,
      error: null,
      eventId: idempotencyKey(data),
      body: { points: 5, echo: 'Bearer [REDACTED]' },
    });
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(await keysOfNamespace()).toEqual([]);
  });

  it('classifies like the worker: a 503 is a retryable HTTP_STATUS with the error body', async () => {
    up.handle((_r, res) => json(res, 503, { down: true }));
    const { envelope } = await dry.run(jobData({ request: { url: `${up.url}/x` } }));
    expect(envelope).toMatchObject({
      ok: false,
      status: 503,
      body: { down: true },
      error: { code: 'HTTP_STATUS', retryable: true },
    });
  });

  it('uses a given context, or reads the saved one without writing anything', async () => {
    up.handle((r, res) => json(res, 200, { got: r.url }));
    const given = await dry.run({
      ...jobData({ request: { url: `${up.url}/c/{{ context.prev.body.id }}` } }),
      context: { prev: { body: { id: 'given' } } },
    });
    expect(given.envelope.body).toEqual({ got: '/c/given' });
    const data = jobData({ request: { url: `${up.url}/c/{{ context.prev.body.id }}` } });
    const key = contextKey(cfg.INVOKE_CTX_PREFIX, data.runId);
    await redis.hset(key, 'prev', JSON.stringify({ body: { id: 'saved' } }));
    const before = await dumpNamespace(redis, ns);
    expect((await dry.run(data)).envelope.body).toEqual({ got: '/c/saved' });
    expect(await dumpNamespace(redis, ns)).toBe(before);
    expect(await redis.ttl(key)).toBe(-1);
    await redis.del(key);
  });

  it('applies the same egress policy and secret bindings', async () => {
    const strict = createDryRun(
      loadConfig({ ...ns.env, INVOKE_SECRET_K: SECRET, INVOKE_SECRET_K_HOSTS: 'api.partner.com' }),
    );
    try {
      const blocked = await strict.run(jobData({ request: { url: `${up.url}/private` } }));
      expect(blocked.envelope.error).toMatchObject({ code: 'URL_BLOCKED', retryable: false });
      const bound = await strict.run(
        jobData({
          request: { url: 'https://example.com/', headers: { 'x-key': '{{ secrets.K }}' } },
        }),
      );
      expect(bound.envelope.error).toMatchObject({ code: 'URL_BLOCKED' });
      expect(JSON.stringify(bound)).not.toContain(SECRET);
    } finally {
      await strict.close();
    }
  });

  it("is not sent while the host's breaker is open or a Retry-After pauses it, as the worker's calls are not", async () => {
    up.handle((_r, res) => json(res, 200, { ok: true }));
    const host = new URL(up.url).host;
    const data = jobData({ request: { url: `${up.url}/held` } });
    const sentBefore = up.requests.length;
    try {
      await openBreaker(redis, ns.prefix, host);
      const open = await dry.run(data);
      expect(open.envelope).toMatchObject({
        ok: false,
        status: null,
        error: { code: 'CIRCUIT_OPEN', retryable: false },
      });
      expect(open.envelope.error!.message).toContain('opened by an operator');
      expect(open.request).toMatchObject({ method: 'GET', url: `${up.url}/held` });

      await closeBreaker(redis, ns.prefix, host);
      await createDestinationStore(redis, ns.prefix).record(
        host,
        { ...BREAKER_DEFAULTS },
        { leaseId: '', kind: 'neutral', pauseMs: 60_000 },
      );
      const paused = await dry.run(data);
      expect(paused.envelope.error).toMatchObject({ code: 'RATE_LIMITED', retryable: false });
      expect(up.requests.length).toBe(sentBefore);

      // A host with no limits and no breaker is never asked about (the worker does not either).
      await openBreaker(redis, ns.prefix, host);
      const unlimited = createDryRun(
        loadConfig({
          ...ns.env,
          INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
          INVOKE_DESTINATIONS: '{"default":{"breaker":false}}',
        }),
      );
      try {
        expect((await unlimited.run(data)).envelope).toMatchObject({ ok: true, status: 200 });
      } finally {
        await unlimited.close();
      }
      await closeBreaker(redis, ns.prefix, host);
      expect((await dry.run(data)).envelope).toMatchObject({ ok: true, status: 200 });
      expect(up.requests.length).toBe(sentBefore + 2);
    } finally {
      await closeBreaker(redis, ns.prefix, host);
      const dest = (await namespaceKeys(redis, ns)).filter((k) =>
        k.startsWith(`${ns.prefix}:dest:`),
      );
      if (dest.length) await redis.unlink(...dest);
    }
  });

  it('returns a TEMPLATE_ERROR envelope with no request when rendering fails', async () => {
    const r = await dry.run(jobData({ request: { url: `${up.url}/{{ customer.nope }}` } }));
    expect(r.request).toBeNull();
    expect(r.envelope.error).toMatchObject({ code: 'TEMPLATE_ERROR', retryable: false });
  });

  it('rejects invalid input naming each path, before any call', async () => {
    const calls = up.requests.length;
    const err = await dry
      .run({ ...jobData(), visit: 0, save: { variable: '1bad' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidJobError);
    expect((err as InvalidJobError).issues.map((i) => i.path).sort()).toEqual([
      'save.variable',
      'visit',
    ]);
    expect((err as Error).message).toMatch(/^INVALID_JOB: /);
    expect(
      await dry.run({ ...jobData(), extra: 1 }).catch((e: InvalidJobError) => e.issues[0]!.code),
    ).toBe('unrecognized_keys');
    expect(up.requests.length).toBe(calls);
  });
});
