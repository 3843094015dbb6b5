/** The producers' HTTP API on a real fastify server and the real Redis: every 2xx and 4xx path. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { createProducerApi, type ProducerApi } from '../../src/api/producers.js';
import { DEDUP_NOTE } from '../../src/api/routes/invocations.js';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { jobData } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import {
  cleanNamespace,
  namespace,
  namespaceKeys,
  redisClient,
  REDIS_URL,
} from '../helpers/redis.js';

const TOKEN = 'test-token-0123456789abcdef';
const SECRET = 'sk_live_API_dry_secret_9';
const ns = namespace('api');
const redis = redisClient();
let cfg: Config;
let producers: ProducerApi;
let app: FastifyInstance;
let client: InvokeClient;
let up: Upstream;

const auth = { authorization: `Bearer ${TOKEN}` };
const post = (url: string, payload: unknown, headers: Record<string, string> = auth) =>
  app.inject({ method: 'POST', url, payload: payload as object, headers });
const get = (url: string, headers: Record<string, string> = auth) =>
  app.inject({ method: 'GET', url, headers });

const nsKeys = () => namespaceKeys(redis, ns);

beforeAll(async () => {
  up = await startUpstream();
  cfg = loadConfig({
    ...ns.env,
    INVOKE_API_TOKEN: TOKEN,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_SECRET_PARTNER: SECRET,
    INVOKE_API_BODY_LIMIT_BYTES: String(1024 * 1024),
    LOG_LEVEL: 'silent',
  });
  producers = createProducerApi(cfg);
  app = await buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: { redis: async () => true } },
    plugins: producers.plugins,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  client = createInvokeClient({ redisUrl: REDIS_URL, prefix: ns.prefix });
});
afterAll(async () => {
  await app.close();
  await producers.close();
  await client.close();
  await up.close();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('POST /v1/invocations', () => {
  it('enqueues (202) and dedupes against the TypeScript client in both directions', async () => {
    const viaApi = jobData();
    const first = await post('/v1/invocations', viaApi);
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ jobId: expect.stringMatching(/^ik\./), deduplicated: false });
    expect(await client.enqueue(viaApi)).toEqual({ jobId: first.json().jobId, deduplicated: true });
    const viaClient = jobData();
    const added = await client.enqueue(viaClient);
    expect((await post('/v1/invocations', viaClient)).json()).toEqual({
      jobId: added.jobId,
      deduplicated: true,
      note: DEDUP_NOTE,
    });
  });

  it('a deduplicated answer says how to run the step again (new visit or runId, or retry)', async () => {
    const job = jobData();
    expect((await post('/v1/invocations', job)).json()).not.toHaveProperty('note');
    const again = (await post('/v1/invocations', job)).json();
    expect(again.deduplicated).toBe(true);
    expect(again.note).toMatch(/new visit \(or runId\).*invoke-api retry <jobId>/);
    const batch = (await post('/v1/invocations:batch', { jobs: [job, jobData()] })).json();
    expect(batch.results.map((r: { note?: string }) => Boolean(r.note))).toEqual([true, false]);
  });

  it('400 with zod issues naming each bad field, and nothing written', async () => {
    const before = await nsKeys();
    const res = await post('/v1/invocations', {
      ...jobData(),
      request: { url: 'http://x', timeoutMs: 5 },
      save: {},
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe('INVALID_JOB');
    expect(body.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      'request.timeoutMs',
      'save.variable',
    ]);
    expect(body.message).toContain('request.timeoutMs');
    expect(await nsKeys()).toEqual(before);
  });

  it('413 over the body limit, 415 for a non-JSON type, 400 for malformed or empty JSON', async () => {
    const big = await post('/v1/invocations', {
      ...jobData(),
      data: { blob: 'x'.repeat(1024 * 1024) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    const text = await app.inject({
      method: 'POST',
      url: '/v1/invocations',
      payload: 'hello',
      headers: { ...auth, 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toEqual({
      error: 'UNSUPPORTED_MEDIA_TYPE',
      message:
        "content-type text/plain is not accepted: send the body as application/json (curl: -H 'content-type: application/json')",
    });
    const broken = await app.inject({
      method: 'POST',
      url: '/v1/invocations',
      payload: '{"v":1,',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual({
      error: 'INVALID_JSON',
      message: 'body is not valid JSON: it ends too early at line 1, column 8 (offset 7)',
    });
    const empty = await app.inject({
      method: 'POST',
      url: '/v1/invocations',
      payload: '',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toBe('INVALID_JSON');
  });

  it('bad JSON: 400 INVALID_JSON with the line and column, never an echo of the body', async () => {
    const body = '{\n  "v": 1,\n  "runId": sk_live_value\n}';
    const res = await app.inject({
      method: 'POST',
      url: '/v1/invocations',
      payload: body,
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'INVALID_JSON',
      message: 'body is not valid JSON: it has an unexpected "s" at line 3, column 12 (offset 23)',
    });
    const poisoned = await app.inject({
      method: 'POST',
      url: '/v1/invocations',
      payload: '{"__proto__": {"x": 1}}',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(poisoned.json()).toMatchObject({
      error: 'INVALID_JSON',
      message: expect.stringContaining('__proto__'),
    });
  });

  it('no content type (curl -d without -H): 415 saying application/json is expected', async () => {
    const res = await fetch(
      `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/invocations`,
      { method: 'POST', body: new Blob([JSON.stringify(jobData())]), headers: auth },
    );
    expect(res.status).toBe(415);
    expect(((await res.json()) as { message: string }).message).toBe(
      "the request has no content-type: send the body as application/json (curl: -H 'content-type: application/json')",
    );
    const form = await app.inject({
      method: 'POST',
      url: '/v1/invocations',
      payload: 'a=1',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.statusCode).toBe(415);
    expect(form.json().message).toContain(
      'content-type application/x-www-form-urlencoded is not accepted: send the body as application/json',
    );
  });
});

describe('POST /v1/invocations:batch', () => {
  it('a bare array gets a hint that the body is {"jobs": [...]}', async () => {
    const res = await post('/v1/invocations:batch', [jobData()]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: 'INVALID_JOB',
      issues: [
        { path: '(root)', message: expect.stringContaining('wrap the array as {"jobs": [ ... ]}') },
      ],
    });
  });

  it('enqueues 1,000 jobs in one call', async () => {
    const jobs = Array.from({ length: 1000 }, (_, i) =>
      jobData({ runId: `b-${ns.id}`, stepId: `s${i}` }),
    );
    const res = await post('/v1/invocations:batch', { jobs });
    expect(res.statusCode).toBe(202);
    const { results } = res.json() as { results: { jobId: string; deduplicated: boolean }[] };
    expect(results).toHaveLength(1000);
    expect(results.every((r) => !r.deduplicated)).toBe(true);
    expect(new Set(results.map((r) => r.jobId)).size).toBe(1000);
    expect(
      (await post('/v1/invocations:batch', { jobs: jobs.slice(0, 3) }))
        .json()
        .results.every((r: { deduplicated: boolean }) => r.deduplicated),
    ).toBe(true);
  });

  it('400 naming the index of a bad job, an empty batch or an oversized one', async () => {
    const bad = await post('/v1/invocations:batch', {
      jobs: [jobData(), { ...jobData(), runId: '' }],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues.map((i: { path: string }) => i.path)).toEqual(['jobs[1].runId']);
    expect((await post('/v1/invocations:batch', { jobs: [] })).json().issues[0].path).toBe('jobs');
    expect((await post('/v1/invocations:batch', [jobData()])).statusCode).toBe(400);
    const tooMany = await post('/v1/invocations:batch', {
      jobs: Array.from({ length: 1001 }, () => ({ v: 1 })),
    });
    expect(tooMany.statusCode).toBe(400);
  });
});

describe('GET /v1/invocations/:jobId', () => {
  it('returns the state of a known job (URL-encoded id) and 404 for an unknown one', async () => {
    const data = jobData({ runId: 'run:with/odd.chars' });
    const { jobId } = (await post('/v1/invocations', data)).json();
    const res = await get(`/v1/invocations/${encodeURIComponent(jobId)}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      jobId,
      state: 'waiting',
      attempts: 0,
      maxAttempts: 6,
      envelope: null,
      lastErrorCode: null,
    });
    const missing = await get('/v1/invocations/ik.nope.nope.1');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({
      error: 'NOT_FOUND',
      message: expect.stringContaining('jobId'),
    });
  });
});

describe('POST /v1/invocations/test', () => {
  it('sends now, masks secrets, and saves and emits nothing', async () => {
    up.handle((_r, res) => json(res, 200, { points: 3 }));
    const before = await nsKeys();
    const data = jobData({
      request: { url: `${up.url}/p`, headers: { 'X-Api-Key': '{{ secrets.PARTNER }}' } },
    });
    const res = await post('/v1/invocations/test', data);
    expect(res.statusCode).toBe(200);
    expect(up.requests.at(-1)!.headers['x-api-key']).toBe(SECRET);
    expect(res.json()).toMatchObject({
      request: { method: 'GET', headers: { 'x-api-key': '[REDACTED]' } },
      envelope: { ok: true, status: 200, body: { points: 3 }, attempts: 1 },
    });
    expect(res.body).not.toContain(SECRET);
    expect(await nsKeys()).toEqual(before);
    expect(
      (await nsKeys()).filter((k) => k.startsWith(ns.ctxPrefix) || k.startsWith(ns.stream)),
    ).toEqual([]);
    expect(await client.status(res.json().envelope.eventId)).toBeNull();
  });

  it('400 naming the field for invalid input', async () => {
    const res = await post('/v1/invocations/test', { ...jobData(), request: {} });
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0].path).toBe('request.url');
  });
});

describe('auth and OpenAPI', () => {
  it('401 without a token or with a wrong one on every route; health is public', async () => {
    const routes: [string, string][] = [
      ['POST', '/v1/invocations'],
      ['POST', '/v1/invocations:batch'],
      ['GET', '/v1/invocations/ik.a.b.1'],
      ['POST', '/v1/invocations/test'],
      ['GET', '/v1/openapi.json'],
    ];
    for (const [method, url] of routes) {
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-token-wrong-token' },
        { authorization: `Bearer ${TOKEN}x` },
      ]) {
        const res = await app.inject({
          method: method as 'GET',
          url,
          headers,
          ...(method === 'POST' ? { payload: jobData() } : {}),
        });
        expect(res.statusCode, `${method} ${url}`).toBe(401);
      }
    }
    expect((await get('/healthz', {})).statusCode).toBe(200);
    expect((await get('/readyz', {})).statusCode).toBe(200);
  });

  it('publishes an OpenAPI document generated from the zod schemas', async () => {
    const res = await get('/v1/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/invocations',
        '/v1/invocations:batch',
        '/v1/invocations/{jobId}',
        '/v1/invocations/test',
      ]),
    );
    const body = doc.paths['/v1/invocations'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(
      expect.arrayContaining([
        'v',
        'journeyId',
        'runId',
        'stepId',
        'customerId',
        'request',
        'save',
      ]),
    );
  });
});
