#!/usr/bin/env node
/**
 * A mock partner API for the demo (scripts/demo.ts) and the compose `demo` profile. Plain
 * JavaScript on node:http so it runs on a stock node image without a build step:
 *
 *   node scripts/mock-partner.mjs --host 0.0.0.0 --port 9000
 *
 *   GET  /loyalty/:customerId   200 { points, tier: { name } } for a known member, 404 otherwise
 *   POST /offers                200 { offer, forTier } built from the JSON body; answers 503
 *                               once per customerId listed in `flaky` (the worker retries)
 *   GET  /healthz               200
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const MEMBERS = {
  'cus-ana': { points: 1200, tier: { name: 'gold' } },
  'cus-ben': { points: 300, tier: { name: 'silver' } },
};

const OFFERS = { gold: 'free shipping for a year', silver: '10% off your next order' };

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function route(req, body, state) {
  const url = new URL(req.url ?? '/', 'http://partner');
  const loyalty = /^\/loyalty\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && loyalty) {
    const member = MEMBERS[decodeURIComponent(loyalty[1])];
    return member ? [200, member] : [404, { error: 'no such member' }];
  }
  if (req.method === 'POST' && url.pathname === '/offers') {
    let input;
    try {
      input = JSON.parse(body);
    } catch {
      return [400, { error: 'body must be JSON' }];
    }
    // Fail the first call for a flaky customer: a transient 503 the worker retries.
    if (state.flaky.has(input.customerId) && !state.failedOnce.has(input.customerId)) {
      state.failedOnce.add(input.customerId);
      return [503, { error: 'offers service warming up' }];
    }
    return [
      200,
      {
        offer: OFFERS[input.tier] ?? 'a welcome gift',
        forTier: input.tier,
        points: Number(input.points),
      },
    ];
  }
  if (url.pathname === '/healthz') return [200, { status: 'ok' }];
  return [404, { error: 'no such route' }];
}

/**
 * Starts the mock partner. `onCall` sees every request and its answer (the demo prints them).
 * @param {{ host?: string, port?: number, flaky?: string[], onCall?: (call: { method: string, path: string, body: string, status: number }) => void }} [opts]
 */
export async function startMockPartner(opts = {}) {
  const state = { flaky: new Set(opts.flaky ?? []), failedOnce: new Set() };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const [status, reply] = route(req, body, state);
      opts.onCall?.({ method: req.method ?? '', path: req.url ?? '', body, status });
      send(res, status, reply);
    });
  });
  await new Promise((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1'}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

// Run directly (compose `partner` service): --host, --port, --flaky cus-ben,cus-x
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : def;
  };
  const partner = await startMockPartner({
    host: arg('host', '127.0.0.1'),
    port: Number(arg('port', '9000')),
    flaky: arg('flaky', 'cus-ben').split(',').filter(Boolean),
    onCall: (c) => process.stdout.write(`${c.method} ${c.path} -> ${c.status}\n`),
  });
  process.stdout.write(`mock partner listening on ${partner.url}\n`);
  // PID 1 in a container: exit on SIGTERM instead of waiting for the kill.
  for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => void partner.close().then(() => process.exit(0)));
}
