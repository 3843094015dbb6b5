/**
 * Basic and HMAC credentials end to end: a real worker, real Redis, and a loopback partner that
 * keeps the raw bytes it received and checks signatures with node:crypto on its own.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { dumpNamespace } from '../helpers/redis.js';
import { waitForJob } from '../helpers/wait.js';

const HMAC_SECRET = 'whsec_partner_signing_key_0123456789';
const PASSWORD = 'erp-password-§-0123456789';
interface Received {
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  at: number;
}
const received: Received[] = [];
let failFirst = 0;
let server: http.Server;
let base: string;
let h: Harness;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, raw: Buffer.concat(chunks), at: Date.now() });
      const status = failFirst-- > 0 ? 503 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: status === 200, echo: req.headers.authorization ?? null }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await startHarness({
    INVOKE_CREDENTIAL_ERP: JSON.stringify({
      type: 'basic',
      hosts: ['127.0.0.1'],
      username: 'journeys',
      password: PASSWORD,
    }),
    INVOKE_CREDENTIAL_HOOKS: JSON.stringify({
      type: 'hmac',
      hosts: ['127.0.0.1'],
      secret: HMAC_SECRET,
      header: 'X-Signature',
      timestampHeader: 'X-Timestamp',
    }),
    INVOKE_CREDENTIAL_WEBHOOKS: JSON.stringify({
      type: 'hmac',
      hosts: ['127.0.0.1'],
      secret: HMAC_SECRET,
      header: 'webhook-signature',
      timestampHeader: 'webhook-timestamp',
      encoding: 'base64',
      payload: 'msg_1.{{ timestamp }}.{{ body }}',
    }),
    INVOKE_CREDENTIAL_ELSEWHERE: JSON.stringify({
      type: 'basic',
      hosts: ['api.partner.example'],
      username: 'u',
      password: 'elsewhere-password',
    }),
  });
});

afterAll(async () => {
  await h.close();
  await new Promise((r) => server.close(r));
});

async function run(
  data: ReturnType<typeof jobData>,
  opts: Record<string, unknown> = { attempts: 1 },
  state: 'completed' | 'failed' = 'completed',
) {
  const start = received.length;
  const added = await h.queue.add('invoke', data, opts);
  const done = await waitForJob(h.queue, added.id!, state);
  return {
    done: done!,
    got: received.slice(start),
    envelope: (await h.context(data.runId)).loyalty,
  };
}

const body = { email: '{{ customer.email }}', name: '{{ customer.name }}', tags: ['vip'] };
const customer = { id: 'c1', email: 'zoë@example.com', name: 'Zoë "Z" O\'Brien \\ 🚀\n<b>' };

describe('basic', () => {
  it('sends RFC 7617 Basic and saves no copy of it from an echoing partner', async () => {
    const { got, envelope } = await run(
      jobData({
        request: {
          url: `${base}/erp`,
          auth: { credential: 'ERP' },
          headers: { Authorization: 'Bearer from-the-step' },
        },
      }),
    );
    expect(got[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from(`journeys:${PASSWORD}`, 'utf8').toString('base64')}`,
    );
    expect(envelope.body.echo).toBe('Basic [REDACTED]');
  });

  it('is refused for a host outside its hosts, permanently and before anything is sent', async () => {
    const { got, envelope, done } = await run(
      jobData({ request: { url: `${base}/x`, auth: { credential: 'ELSEWHERE' } } }),
      { attempts: 3 },
      'failed',
    );
    expect(got).toHaveLength(0);
    expect(done.attemptsMade).toBe(1);
    expect(envelope.error).toMatchObject({ code: 'URL_BLOCKED', retryable: false });
  });
});

describe('hmac', () => {
  it('Stripe-style: hex HMAC-SHA256 over "<t>.<exact body bytes>", checked by the partner', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { got } = await run(
      jobData({
        request: { method: 'POST', url: `${base}/hooks?x=1`, body, auth: { credential: 'HOOKS' } },
        data: { customer },
      }),
    );
    const { headers, raw } = got[0]!;
    const t = Number(headers['x-timestamp']);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    const expected = createHmac('sha256', HMAC_SECRET)
      .update(Buffer.concat([Buffer.from(`${t}.`), raw]))
      .digest('hex');
    expect(headers['x-signature']).toBe(expected);
    // The check is over bytes that really hold the hostile characters.
    expect(JSON.parse(raw.toString('utf8')).name).toBe(customer.name);
  });

  it('Standard Webhooks: base64 over "<id>.<t>.<body>"', async () => {
    const { got } = await run(
      jobData({
        request: { method: 'POST', url: `${base}/wh`, body, auth: { credential: 'WEBHOOKS' } },
        data: { customer },
      }),
    );
    const { headers, raw } = got[0]!;
    const expected = createHmac('sha256', HMAC_SECRET)
      .update(Buffer.concat([Buffer.from(`msg_1.${headers['webhook-timestamp']}.`), raw]))
      .digest('base64');
    expect(headers['webhook-signature']).toBe(expected);
  });

  it('signs each attempt anew with a fresh timestamp', async () => {
    failFirst = 1;
    const { got, envelope } = await run(
      jobData({
        request: { method: 'POST', url: `${base}/retry`, body, auth: { credential: 'HOOKS' } },
        data: { customer },
      }),
      { attempts: 2, backoff: { type: 'fixed', delay: 1100 } },
    );
    expect(envelope).toMatchObject({ ok: true, attempts: 2 });
    expect(got).toHaveLength(2);
    const [t1, t2] = got.map((g) => Number(g.headers['x-timestamp']));
    expect(t2).toBeGreaterThan(t1!);
    for (const g of got) {
      expect(g.headers['x-signature']).toBe(
        createHmac('sha256', HMAC_SECRET)
          .update(Buffer.concat([Buffer.from(`${g.headers['x-timestamp']}.`), g.raw]))
          .digest('hex'),
      );
    }
  });

  it('no password or signing key in any Redis key or log line', async () => {
    const dump = await dumpNamespace(h.redis, h.ns);
    const logs = h.logs.join('\n');
    expect(dump).toContain('[REDACTED]');
    for (const v of [
      HMAC_SECRET,
      PASSWORD,
      Buffer.from(`journeys:${PASSWORD}`).toString('base64'),
    ]) {
      expect(dump).not.toContain(v);
      expect(logs).not.toContain(v);
    }
  });
});
