/**
 * Loopback-only servers for the egress tests: a plain http server on any 127/8 address that
 * counts TCP connections (to prove a blocked destination saw nothing), and a job runner that
 * returns the saved envelope of one job.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'vitest';
import type { Harness } from '../helpers/harness.js';
import { jobData } from '../helpers/harness.js';
import { waitForJob } from '../helpers/wait.js';

export interface CountingServer {
  url: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

/** A server on a loopback address (never anything else) that answers 200 and counts connections. */
export async function countingServer(
  host: string,
  handler: http.RequestListener = (_q, s) => s.end('reached'),
): Promise<CountingServer> {
  if (!host.startsWith('127.')) throw new Error('tests listen on loopback only');
  const sockets = new Set<Socket>();
  const server = http.createServer(handler);
  const out = { url: '', port: 0, connections: 0, close: async () => {} };
  server.on('connection', (s) => {
    out.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  out.port = (server.address() as AddressInfo).port;
  out.url = `http://${host}:${out.port}`;
  out.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return out;
}

/** Enqueues one job, waits until it is completed or failed, returns the saved envelope. */
export async function runJob(
  h: Harness,
  over: Parameters<typeof jobData>[0],
  opts: { attempts?: number; expect?: 'completed' | 'failed' } = {},
) {
  const data = jobData(over);
  const job = await h.queue.add('invoke', data, {
    attempts: opts.attempts ?? 3,
    backoff: { type: 'fixed', delay: 20 },
  });
  await waitForJob(h.queue, job.id!, opts.expect ?? 'failed');
  const env = (await h.context(data.runId)).loyalty;
  expect(env, 'envelope saved').toBeDefined();
  return env as {
    ok: boolean;
    status: number | null;
    body: unknown;
    truncated: boolean;
    headers: Record<string, string>;
    error: { code: string; message: string; retryable: boolean } | null;
    attempts: number;
  };
}
