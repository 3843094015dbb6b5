/** Issue 1 end to end: raw BullMQ add -> worker -> loopback upstream -> context + event. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob, waitFor } from '../helpers/wait.js';
import { envelopeSchema } from '../../src/contract/envelope.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';

let h: Harness;
let up: Upstream;
const SECRET = 'sk_live_TOPSECRET_abc123';

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({ INVOKE_SECRET_LOYALTY_TOKEN: SECRET });
});
afterAll(async () => {
  await h.close();
  await up.close();
});

const add = (data: object, opts: object = {}) =>
  h.queue.add('invoke', data, { attempts: 3, backoff: { type: 'fixed', delay: 50 }, ...opts });

describe('a journey step call', () => {
  it('renders a templated URL, saves the envelope, then emits invoke.completed', async () => {
    up.handle((_r, res) => json(res, 200, { points: 42, tier: { name: 'gold' } }));
    const data = jobData({ request: { url: `${up.url}/loyalty/{{ customer.id }}` } });
    const job = await add(data);
    await waitForJob(h.queue, job.id!, 'completed');
    expect(up.requests.at(-1)!.url).toBe('/loyalty/cus-123');
    const ctx = await h.context(data.runId);
    const env = envelopeSchema.parse(ctx.loyalty);
    expect(env).toMatchObject({
      ok: true,
      status: 200,
      body: { points: 42, tier: { name: 'gold' } },
      attempts: 1,
      error: null,
      eventId: idempotencyKey(data),
    });
    const ttl = await h.redis.ttl(`${h.cfg.INVOKE_CTX_PREFIX}:{${data.runId}}`);
    expect(ttl).toBeGreaterThan(h.cfg.INVOKE_CTX_TTL_SECONDS - 10);
    const events = (await h.events()).filter((e) => e.runId === data.runId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'invoke.completed',
      eventId: idempotencyKey(data),
      status: '200',
      errorCode: '',
      attempts: '1',
      jobId: job.id,
      variable: 'loyalty',
      visit: '1',
    });
  });

  it('sends hostile customer values inside a JSON body as exact strings, keeping numbers and booleans', async () => {
    up.handle((_r, res) => json(res, 200, {}));
    const hostile = 'O"Brien \\ {{ not.a.template }}\n</script>';
    const data = jobData({
      request: {
        method: 'POST',
        url: `${up.url}/b`,
        body: { name: '{{ customer.name }}', n: 3, vip: true, tags: ['{{ customer.name }}', null] },
      },
      data: { customer: { name: hostile } },
    });
    const job = await add(data);
    await waitForJob(h.queue, job.id!, 'completed');
    const sent = JSON.parse(up.requests.at(-1)!.body);
    expect(sent).toEqual({ name: hostile, n: 3, vip: true, tags: [hostile, null] });
    expect(up.requests.at(-1)!.headers['content-type']).toBe('application/json');
  });

  it('URL-encodes query values and path outputs', async () => {
    up.handle((_r, res) => json(res, 200, {}));
    const data = jobData({
      request: {
        url: `${up.url}/p/{{ customer.id }}`,
        query: { q: '{{ customer.q }}', lang: 'en' },
      },
      data: { customer: { id: 'a/b?c', q: 'x&y=z é' } },
    });
    const job = await add(data);
    await waitForJob(h.queue, job.id!, 'completed');
    const u = new URL(up.requests.at(-1)!.url, 'http://x');
    expect(u.pathname).toBe('/p/a%2Fb%3Fc');
    expect(u.searchParams.get('q')).toBe('x&y=z é');
    expect(u.searchParams.get('lang')).toBe('en');
  });

  it('stores only picked fields with save.pick, and text bodies as text', async () => {
    up.handle((r, res) =>
      r.url === '/text'
        ? (res.writeHead(200, { 'content-type': 'text/plain' }), res.end('hello'))
        : json(res, 200, { points: 7, tier: { name: 'silver' } }, { etag: 'W/1' }),
    );
    const a = jobData({
      request: { url: `${up.url}/pick` },
      save: {
        variable: 'lp',
        pick: {
          points: 'body.points',
          tier: 'body.tier.name',
          tag: 'headers.etag',
          code: 'status',
          missing: 'body.nope.deeper',
        },
      },
    });
    const b = jobData({ request: { url: `${up.url}/text` }, save: { variable: 'txt' } });
    const [ja, jb] = await Promise.all([add(a), add(b)]);
    await waitForJob(h.queue, ja.id!, 'completed');
    await waitForJob(h.queue, jb.id!, 'completed');
    expect((await h.context(a.runId)).lp.body).toEqual({
      points: 7,
      tier: 'silver',
      tag: 'W/1',
      code: 200,
      missing: null,
    });
    expect((await h.context(b.runId)).txt.body).toBe('hello');
  });

  it("a second step reads the first step's saved result through context", async () => {
    up.handle((r, res) =>
      r.url.startsWith('/first')
        ? json(res, 200, { points: 99 })
        : json(res, 200, { echoed: JSON.parse(r.body) }),
    );
    const first = jobData({ request: { url: `${up.url}/first` } });
    await waitForJob(h.queue, (await add(first)).id!, 'completed');
    const second = jobData({
      runId: first.runId,
      stepId: 'use-it',
      request: {
        method: 'POST',
        url: `${up.url}/second`,
        body: { points: '{{ context.loyalty.body.points }}' },
      },
      save: { variable: 'second' },
    });
    await waitForJob(h.queue, (await add(second)).id!, 'completed');
    expect((await h.context(first.runId)).second.body).toEqual({ echoed: { points: '99' } });
  });
});
