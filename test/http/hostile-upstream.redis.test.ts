/**
 * Issue 3 through the real worker: a hostile or broken upstream cannot hurt the worker
 * (response limits, timeouts, resets, bad JSON), and the request a step builds is hygienic
 * (no header injection, no framing overrides, bounded body, stable User-Agent).
 * Every upstream is a real loopback server.
 */
import { brotliCompressSync, constants as zlib, deflateSync, gzipSync } from 'node:zlib';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { waitForJob } from '../helpers/wait.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { runJob } from './loopback.js';

const MAX_BODY = 256 * 1024;
let h: Harness;
let up: Upstream;

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({
    INVOKE_MAX_RESPONSE_BYTES: String(MAX_BODY),
    INVOKE_MAX_REQUEST_BYTES: '1024',
    INVOKE_MAX_HEADER_BYTES: '8192',
  });
});
afterAll(async () => {
  await h.close();
  await up.close();
});

/** Writes chunks for as long as the client keeps reading, with backpressure; stops when it goes. */
function endless(res: ServerResponse, chunk: Buffer) {
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
}

describe('response limits', () => {
  const inflated = Buffer.alloc(8 * 1024 * 1024); // 32 x the limit, a few KiB on the wire
  it.each([
    ['gzip', () => gzipSync(inflated)],
    ['deflate', () => deflateSync(inflated)],
    ['br', () => brotliCompressSync(inflated, { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } })],
  ])(
    'cuts a %s bomb off after decompression: RESPONSE_TOO_LARGE, not retried',
    async (encoding, compress) => {
      const bomb = compress();
      expect(bomb.length).toBeLessThan(MAX_BODY / 8);
      up.handle((_r, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
        res.end(bomb);
      });
      const env = await runJob(h, { request: { url: `${up.url}/bomb` } });
      expect(env).toMatchObject({
        ok: false,
        status: 200,
        body: null,
        truncated: true,
        attempts: 1,
        error: { code: 'RESPONSE_TOO_LARGE', retryable: false },
      });
    },
  );

  it('cuts an endless chunked body off: RESPONSE_TOO_LARGE', async () => {
    up.handle((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }); // no content-length: chunked
      endless(res, Buffer.alloc(16 * 1024, 'a'));
    });
    const env = await runJob(h, { request: { url: `${up.url}/endless` } });
    expect(env).toMatchObject({ status: 200, attempts: 1, error: { code: 'RESPONSE_TOO_LARGE' } });
  });

  it('keeps only the start of a huge error body (truncated), still HTTP_STATUS', async () => {
    up.handle((_r, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      endless(res, Buffer.alloc(16 * 1024, 'e'));
    });
    const env = await runJob(h, { request: { url: `${up.url}/bad` } });
    expect(env).toMatchObject({ status: 400, truncated: true, error: { code: 'HTTP_STATUS' } });
    expect((env.body as string).length).toBe(h.cfg.INVOKE_MAX_ERROR_BODY_BYTES);
  });

  it('refuses oversized response headers: RESPONSE_TOO_LARGE', async () => {
    up.handle((_r, res) => json(res, 200, {}, { 'x-big': 'h'.repeat(10_000) }));
    const env = await runJob(h, { request: { url: `${up.url}/headers` } });
    expect(env).toMatchObject({
      status: null,
      attempts: 1,
      error: {
        code: 'RESPONSE_TOO_LARGE',
        message: expect.stringContaining('INVOKE_MAX_HEADER_BYTES'),
      },
    });
  });

  it('ends a slow-drip body in TIMEOUT (whole-request timeout), retried', async () => {
    up.handle((_r, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('.')), 50);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const env = await runJob(
      h,
      { request: { url: `${up.url}/drip`, timeoutMs: 400 } },
      { attempts: 2 },
    );
    expect(env).toMatchObject({
      ok: false,
      attempts: 2,
      error: { code: 'TIMEOUT', retryable: true },
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('retries a connection reset mid-body (CONNECT_ERROR) and succeeds on the next attempt', async () => {
    up.handle((_r, res, n) => {
      if (n % 2 === 1) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"partial":');
        setTimeout(() => res.socket?.resetAndDestroy(), 20);
        return;
      }
      json(res, 200, { whole: true });
    });
    if (up.requests.length % 2 === 1) up.requests.push(up.requests.at(-1)!); // make the next request odd
    const env = await runJob(
      h,
      { request: { url: `${up.url}/reset` } },
      { attempts: 3, expect: 'completed' },
    );
    expect(env).toMatchObject({ ok: true, attempts: 2, body: { whole: true } });
  });

  it('saves invalid JSON under a JSON content type as the raw text, ok on a 2xx', async () => {
    up.handle((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end('{"points": 42,');
    });
    const env = await runJob(h, { request: { url: `${up.url}/badjson` } }, { expect: 'completed' });
    expect(env).toMatchObject({
      ok: true,
      status: 200,
      body: '{"points": 42,',
      truncated: false,
      error: null,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
  });
});

describe('request hygiene', () => {
  it('refuses a rendered header value with CR/LF, naming the header; nothing is sent', async () => {
    const before = up.requests.length;
    const env = await runJob(h, {
      request: { url: `${up.url}/h`, headers: { 'X-Name': '{{ customer.name }}' } },
      data: { customer: { name: 'a\r\nX-Injected: 1' } },
    });
    expect(env).toMatchObject({
      attempts: 1,
      error: {
        code: 'TEMPLATE_ERROR',
        message: 'request.headers.X-Name: rendered value contains CR, LF or NUL',
      },
    });
    expect(up.requests.length).toBe(before);
  });

  it('refuses a NUL in a header value and a header name that is not a token (INVALID_JOB)', async () => {
    const nul = await runJob(h, {
      request: { url: `${up.url}/h`, headers: { 'X-Id': '{{ customer.id }}' } },
      data: { customer: { id: 'a\u0000b' } },
    });
    expect(nul.error).toMatchObject({
      code: 'TEMPLATE_ERROR',
      message: expect.stringContaining('request.headers.X-Id'),
    });
    // The schema refuses the name before anything runs. (Read from the job: the envelope of an
    // INVALID_JOB is not saved yet, src/contract/salvage.ts picks from a strict schema.)
    const job = await h.queue.add(
      'invoke',
      jobData({ request: { url: `${up.url}/h`, headers: { 'X-Bad\r\nName': 'v' } } }),
      { attempts: 3 },
    );
    await waitForJob(h.queue, job.id!, 'failed');
    const failed = (await h.queue.getJob(job.id!))!; // waitForJob may hand back the job as read before it failed
    expect(failed.failedReason).toMatch(/^INVALID_JOB: request\.headers\.X-Bad/);
    expect(failed.attemptsMade).toBe(1);
  });

  it.each(['Host', 'Content-Length', 'Transfer-Encoding', 'Connection'])(
    'refuses a %s override (INVALID_JOB naming it)',
    async (header) => {
      const before = up.requests.length;
      const env = await runJob(h, {
        request: {
          method: 'POST',
          url: `${up.url}/h`,
          body: { a: 1 },
          headers: { [header]: 'evil' },
        },
      });
      expect(env).toMatchObject({
        attempts: 1,
        error: {
          code: 'INVALID_JOB',
          message: expect.stringContaining(`request.headers.${header.toLowerCase()}`),
        },
      });
      expect(up.requests.length).toBe(before);
    },
  );

  it('refuses a rendered body over INVOKE_MAX_REQUEST_BYTES', async () => {
    const before = up.requests.length;
    const env = await runJob(h, {
      request: { method: 'POST', url: `${up.url}/big`, body: { blob: '{{ customer.blob }}' } },
      data: { customer: { blob: 'x'.repeat(2000) } },
    });
    // Cut off while rendering (issue 18), before the body is ever built whole.
    expect(env).toMatchObject({
      attempts: 1,
      error: {
        code: 'TEMPLATE_ERROR',
        message: expect.stringContaining(
          'request.body.blob: rendered output is over 1024 characters',
        ),
      },
    });
    expect(up.requests.length).toBe(before);
  });

  it('refuses a body on a GET (INVALID_JOB, not a retried network error)', async () => {
    const env = await runJob(h, { request: { method: 'GET', url: `${up.url}/g`, body: { a: 1 } } });
    expect(env).toMatchObject({
      attempts: 1,
      error: { code: 'INVALID_JOB', message: expect.stringContaining('request.body') },
    });
  });

  it('sends a stable User-Agent naming the product and version, overridable by a step header', async () => {
    up.handle((_r, res) => json(res, 200, {}));
    await runJob(h, { request: { url: `${up.url}/ua` } }, { expect: 'completed' });
    expect(up.requests.at(-1)!.headers['user-agent']).toMatch(/^invoke-api-worker\/\d+\.\d+/);
    await runJob(
      h,
      { request: { url: `${up.url}/ua`, headers: { 'User-Agent': 'journey-step/2' } } },
      { expect: 'completed' },
    );
    expect(up.requests.at(-1)!.headers['user-agent']).toBe('journey-step/2');
  });
});
