/**
 * Issue 3 at the HTTP client (no Redis): the check happens on the address actually connected
 * to. A name that resolves to a denied address (custom dnsLookup: 127.0.0.2) is refused before
 * any connection, also on a redirect hop; the agents refuse IP literals on their own; and the
 * connect timeout is separate from the whole-request timeout. Loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createHttpClient, type HttpClient } from '../../src/http/call.js';
import { addressGuard, createEgressPolicy } from '../../src/http/egress.js';
import { GuardedHttpAgent } from '../../src/http/guarded-agent.js';
import { InvokeError } from '../../src/contract/errors.js';
import type { RenderedRequest } from '../../src/template/render.js';
import { countingServer, type CountingServer } from './loopback.js';

const cfg = loadConfig({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32', INVOKE_CONNECT_TIMEOUT_MS: '300' });
let client: HttpClient;
let allowed: CountingServer;
let denied: CountingServer;

beforeAll(async () => {
  client = createHttpClient(cfg);
  allowed = await countingServer('127.0.0.1', (req, res) =>
    req.url === '/hop'
      ? res.writeHead(302, { location: `http://rebind.test:${denied.port}/x` }).end()
      : res.end(`host=${req.headers.host}`),
  );
  denied = await countingServer('127.0.0.2');
});
afterAll(async () => {
  client.close();
  await Promise.all([allowed.close(), denied.close()]);
});

/** A resolver that answers every name with one address (what a rebinding DNS server would do). */
const resolvesTo = (address: string) =>
  ((_h: string, opts: dns.LookupOptions, cb: (e: Error | null, a: unknown, f?: number) => void) =>
    setImmediate(() =>
      opts.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4),
    )) as unknown as typeof dns.lookup;

const request = (url: string, over: Partial<RenderedRequest> = {}): RenderedRequest => ({
  method: 'GET',
  url,
  headers: {},
  body: undefined,
  timeoutMs: 5000,
  followRedirects: false,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<InvokeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvokeError);
  return err as InvokeError;
}

describe('names are checked on the address they resolve to', () => {
  it('uses the custom lookup (control: a name resolving to the allowed 127.0.0.1 is reached)', async () => {
    const res = await client.send(request(`http://partner.test:${allowed.port}/`), {
      usedSecrets: [],
      dnsLookup: resolvesTo('127.0.0.1'),
    });
    expect(res.body.toString()).toBe(`host=partner.test:${allowed.port}`);
  });

  it('refuses a name resolving to 127.0.0.2 with URL_BLOCKED, and 127.0.0.2 sees no connection', async () => {
    const err = await failure(
      client.send(request(`http://rebind.test:${denied.port}/`), {
        usedSecrets: [],
        dnsLookup: resolvesTo('127.0.0.2'),
      }),
    );
    expect(err.code).toBe('URL_BLOCKED');
    expect(err.message).toBe(
      'URL_BLOCKED: rebind.test: rebind.test resolves to a loopback address',
    );
    expect(denied.connections).toBe(0);
  });

  it('refuses a redirect hop to a name resolving to a denied address', async () => {
    const lookup = ((h: string, o: dns.LookupOptions, cb: never) =>
      resolvesTo(h === 'rebind.test' ? '127.0.0.2' : '127.0.0.1')(
        h,
        o,
        cb,
      )) as unknown as typeof dns.lookup;
    const err = await failure(
      client.send(request(`http://partner.test:${allowed.port}/hop`, { followRedirects: true }), {
        usedSecrets: [],
        dnsLookup: lookup,
      }),
    );
    expect(err.code).toBe('URL_BLOCKED');
    expect(denied.connections).toBe(0);
  });

  it('the guarded agent refuses an IP literal by itself, before connecting', async () => {
    const agent = new GuardedHttpAgent(addressGuard(createEgressPolicy(cfg)), {});
    const err = await new Promise<Error & { code?: string }>((resolve) => {
      http
        .get(`${denied.url}/direct`, { agent }, () => resolve(new Error('reached')))
        .on('error', resolve);
    });
    agent.destroy();
    expect(err.code).toBe('ERR_INVOKE_URL_BLOCKED');
    expect(denied.connections).toBe(0);
  });
});

describe('connect timeout (INVOKE_CONNECT_TIMEOUT_MS), apart from the whole-request timeout', () => {
  let hung: ChildProcess | undefined;
  const fillers: net.Socket[] = [];
  afterAll(() => {
    for (const s of fillers) s.destroy();
    if (hung?.pid) process.kill(hung.pid);
  });

  it('gives TIMEOUT when the lookup never answers', async () => {
    const never = (() => undefined) as unknown as typeof dns.lookup;
    const started = Date.now();
    const err = await failure(
      client.send(request('http://silent.test/', { timeoutMs: 20_000 }), {
        usedSecrets: [],
        dnsLookup: never,
      }),
    );
    // "connecting to" is the connect/lookup timeout; the whole-request one says "no complete response".
    expect(err).toMatchObject({
      code: 'TIMEOUT',
      retryable: true,
      message: expect.stringContaining('connecting to'),
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('gives TIMEOUT when the TCP handshake never completes (full accept queue on loopback)', async () => {
    // A listener whose process blocks its event loop never accepts: once its backlog (1) is full,
    // the kernel drops further SYNs and connect() hangs, as for an unreachable host.
    // stdout to a pipe is synchronous on Linux: the port is out before the loop blocks.
    const child =
      "const s=require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(s.address().port+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,30000)})";
    hung = spawn(process.execPath, ['-e', child], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = Number(
      await new Promise<string>((resolve) =>
        hung!.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())),
      ),
    );
    // backlog 1 holds two handshakes; wait until both fillers are in, so the queue is full.
    await Promise.all(
      [0, 1].map(
        () =>
          new Promise((resolve) =>
            fillers.push(
              net
                .connect(port, '127.0.0.1')
                .on('error', () => {})
                .once('connect', resolve),
            ),
          ),
      ),
    );
    const started = Date.now();
    const err = await failure(
      client.send(request(`http://127.0.0.1:${port}/`, { timeoutMs: 20_000 }), { usedSecrets: [] }),
    );
    expect(err).toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringContaining('connecting to'),
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

/** A throwaway self-signed certificate (openssl), or undefined where openssl is missing. */
function selfSigned(): { key: Buffer; cert: Buffer } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'egress-tls-'));
  try {
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=partner.test',
        '-days',
        '1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    return r.status === 0
      ? { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }
      : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('https', () => {
  const tls = selfSigned();

  it('the guarded https agent refuses a name resolving to 127.0.0.2', async () => {
    const err = await failure(
      client.send(request(`https://rebind.test:${denied.port}/`), {
        usedSecrets: [],
        dnsLookup: resolvesTo('127.0.0.2'),
      }),
    );
    expect(err.code).toBe('URL_BLOCKED');
    expect(denied.connections).toBe(0);
  });

  it.skipIf(!tls)(
    'verifies certificates: a self-signed upstream is a CONNECT_ERROR and never sees the request',
    async () => {
      let requests = 0;
      const server = https.createServer(tls!, (_q, s) => (requests++, s.end('secret data')));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      try {
        const err = await failure(
          client.send(request(`https://partner.test:${port}/`), {
            usedSecrets: [],
            dnsLookup: resolvesTo('127.0.0.1'),
          }),
        );
        expect(err).toMatchObject({
          code: 'CONNECT_ERROR',
          retryable: true,
          message: expect.stringMatching(/CERT|SELF_SIGNED/),
        });
        expect(requests).toBe(0);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );
});

describe('the whole-request timeout spans redirect hops', () => {
  it('gives TIMEOUT when hops that are each quick add up past timeoutMs', async () => {
    let hops = 0;
    const slowHops = await countingServer('127.0.0.1', (req, res) => {
      hops++;
      // Every hop answers in 120 ms and redirects again: 5 hops = 600 ms > the 400 ms timeout.
      setTimeout(() => res.writeHead(302, { location: `/next${hops}` }).end(), 120);
    });
    try {
      const started = Date.now();
      const err = await failure(
        client.send(request(`${slowHops.url}/start`, { followRedirects: true, timeoutMs: 400 }), {
          usedSecrets: [],
        }),
      );
      expect(err.code).toBe('TIMEOUT');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(hops).toBeGreaterThanOrEqual(3);
      expect(hops).toBeLessThanOrEqual(4);
    } finally {
      await slowHops.close();
    }
  });
});
