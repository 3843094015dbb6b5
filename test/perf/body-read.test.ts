/**
 * The response body is read with plain stream listeners (cheaper than for-await, scripts/bench):
 * the limit, a connection cut mid-body and the deadline still end the call as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createHttpClient } from '../../src/http/call.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
const http = createHttpClient(
  loadConfig({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32', INVOKE_MAX_RESPONSE_BYTES: '1000' }),
);
const get = (path: string, timeoutMs?: number) =>
  http.send(
    {
      method: 'GET',
      url: `${up.url}${path}`,
      headers: {},
      body: undefined,
      timeoutMs,
      followRedirects: false,
    },
    { usedSecrets: [] },
  );

beforeAll(async () => {
  up = await startUpstream((r, res) => {
    if (r.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 50; i++) res.write('x'.repeat(100));
      return void res.end();
    }
    if (r.url === '/cut') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '500' });
      res.write('partial');
      return void setTimeout(() => res.destroy(), 20);
    }
    if (r.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.write('first bytes, then nothing');
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('small');
  });
});
afterAll(async () => {
  http.close();
  await up.close();
});

describe('reading the response body', () => {
  it('keeps a body within the limit whole', async () => {
    const r = await get('/ok');
    expect(r.body.toString()).toBe('small');
    expect(r.overLimit).toBe(false);
  });

  it('stops at INVOKE_MAX_RESPONSE_BYTES and says so', async () => {
    const r = await get('/big');
    expect(r.overLimit).toBe(true);
    expect(r.body.length).toBe(1000);
  });

  it('turns a connection cut mid-body into CONNECT_ERROR', async () => {
    await expect(get('/cut')).rejects.toMatchObject({ code: 'CONNECT_ERROR' });
  });

  it('turns a body that never ends into TIMEOUT at the deadline', async () => {
    await expect(get('/slow', 300)).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});
