/**
 * Issue 18: the HTTP API never reads BullMQ's own keys through a path id, refuses deep JSON
 * with a 400 naming the limit, answers no raw Redis or internal text, and without a token
 * serves only requests addressed to a loopback name (DNS rebinding).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { createProducerApi, type ProducerApi } from '../../src/api/producers.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { opsRoutes } from '../../src/api/routes/ops.js';
import { jobData } from '../helpers/harness.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { MAX_JSON_DEPTH } from '../../src/api/guards.js';

const TOKEN = 'test-token-0123456789abcdef';
const ns = namespace('hard');
const redis = redisClient();
let producers: ProducerApi;
let ops: Ops;
let open: FastifyInstance; // no token: loopback only
let tokened: FastifyInstance;
const auth = { authorization: `Bearer ${TOKEN}` };

async function serve(env: Record<string, string>) {
  const cfg = loadConfig({ ...ns.env, LOG_LEVEL: 'silent', ...env });
  return buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [...producers.plugins, opsRoutes(ops)],
  });
}

beforeAll(async () => {
  const cfg = loadConfig({ ...ns.env, LOG_LEVEL: 'silent' });
  producers = createProducerApi(cfg);
  ops = createOps(cfg, redis);
  open = await serve({});
  tokened = await serve({ INVOKE_API_TOKEN: TOKEN });
  // A real job, so BullMQ's meta/events/id keys exist under the prefix.
  const res = await tokened.inject({
    method: 'POST',
    url: '/v1/invocations',
    headers: auth,
    payload: jobData(),
  });
  expect(res.statusCode).toBe(202);
});
afterAll(async () => {
  await open.close();
  await tokened.close();
  await producers.close();
  await ops.close?.();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

const BULLMQ_KEYS = [
  'meta',
  'events',
  'id',
  'completed',
  'failed',
  'wait',
  'x:logs',
  'ik.r.s.1:logs',
  'stalled-check',
  '1',
  '%2e%2e',
  'ik.r.s.0',
];

describe('job ids in paths', () => {
  it.each(BULLMQ_KEYS)(
    'GET /v1/invocations/%s is 404 naming the id format, never 500',
    async (id) => {
      const res = await tokened.inject({
        method: 'GET',
        url: `/v1/invocations/${encodeURIComponent(id)}`,
        headers: auth,
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({
        error: 'NOT_FOUND',
        message: expect.stringContaining('ik.<runId>.<stepId>.<visit>'),
      });
    },
  );

  it.each(BULLMQ_KEYS)('GET /v1/ops/jobs/%s is 404, never 500', async (id) => {
    const res = await tokened.inject({
      method: 'GET',
      url: `/v1/ops/jobs/${encodeURIComponent(id)}`,
      headers: auth,
    });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toMatch(/WRONGTYPE|ERR |Redis/i);
  });

  it('POST /v1/ops/retry with a BullMQ key as id is 400', async () => {
    const res = await tokened.inject({
      method: 'POST',
      url: '/v1/ops/retry',
      headers: auth,
      payload: { ids: ['meta'] },
    });
    expect(res.statusCode).toBe(400);
  });

  it('a well-formed id that does not exist is 404 as before', async () => {
    const res = await tokened.inject({
      method: 'GET',
      url: '/v1/invocations/ik.nope.nope.1',
      headers: auth,
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('no invocation');
  });
});

describe('JSON bodies', () => {
  it('a body nested 5,000 arrays deep is 400 naming the limit', async () => {
    const payload = `{"v":1,"data":{"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const res = await tokened.inject({
      method: 'POST',
      url: '/v1/invocations',
      headers: { ...auth, 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: 'JSON_TOO_DEEP',
      message: expect.stringContaining(`${MAX_JSON_DEPTH} levels`),
    });
  });

  it('brackets inside strings do not count', async () => {
    const job = jobData({ data: { text: '['.repeat(500) } });
    const res = await tokened.inject({
      method: 'POST',
      url: '/v1/invocations',
      headers: auth,
      payload: job,
    });
    expect(res.statusCode).toBe(202);
  });

  it('the ops routes refuse it too', async () => {
    const payload = `{"ids":${'['.repeat(100)}${']'.repeat(100)}}`;
    const res = await tokened.inject({
      method: 'POST',
      url: '/v1/ops/retry',
      headers: { ...auth, 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain(`${MAX_JSON_DEPTH} levels`);
  });
});

describe('Host header without INVOKE_API_TOKEN', () => {
  it.each(['evil.example', 'evil.example:8080', '127.0.0.1.nip.io', 'localhost.evil.example'])(
    'Host %s is 403 naming the rule',
    async (host) => {
      const res = await open.inject({
        method: 'GET',
        url: '/v1/invocations/ik.a.b.1',
        headers: { host },
      });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({
        error: 'FORBIDDEN_HOST',
        message: expect.stringContaining('INVOKE_API_TOKEN'),
      });
    },
  );

  it.each(['localhost', 'localhost:8080', '127.0.0.1:9', '[::1]:8080', 'LOCALHOST'])(
    'Host %s is served',
    async (host) => {
      const res = await open.inject({
        method: 'GET',
        url: '/v1/invocations/ik.a.b.1',
        headers: { host },
      });
      expect(res.statusCode).toBe(404);
    },
  );

  it('health answers whatever the Host; with a token any Host is served (the token guards it)', async () => {
    expect(
      (await open.inject({ method: 'GET', url: '/healthz', headers: { host: 'probe.internal' } }))
        .statusCode,
    ).toBe(200);
    expect(
      (
        await tokened.inject({
          method: 'GET',
          url: '/v1/invocations/ik.a.b.1',
          headers: { ...auth, host: 'api.example' },
        })
      ).statusCode,
    ).toBe(404);
  });
});
