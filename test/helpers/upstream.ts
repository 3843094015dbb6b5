/** A real node:http server on loopback with scripted replies, recording every request. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Handler = (req: Recorded, res: http.ServerResponse, n: number) => unknown;

export interface Upstream {
  url: string;
  port: number;
  requests: Recorded[];
  /** Replace the reply script. */
  handle(h: Handler): void;
  close(): Promise<void>;
}

export const json = (
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

export async function startUpstream(
  initial: Handler = (_r, res) => json(res, 200, { ok: true }),
): Promise<Upstream> {
  let handler = initial;
  const requests: Recorded[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(rec);
      Promise.resolve(handler(rec, res, requests.length)).catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    handle: (h) => (handler = h),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A partner that accepts a step's call and keeps its callback path, by run: for steps whose
 * body is `{ runId: '{{ run.id }}', callbackUrl: '{{ callback.url }}' }`.
 */
export async function startCallbackPartner(): Promise<{
  up: Upstream;
  paths: Map<string, string>;
}> {
  const paths = new Map<string, string>();
  const up = await startUpstream((req, res) => {
    const body = JSON.parse(req.body) as { runId: string; callbackUrl: string };
    paths.set(body.runId, new URL(body.callbackUrl).pathname);
    json(res, 200, { queued: true });
  });
  return { up, paths };
}
