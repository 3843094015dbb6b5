/**
 * A worker (harness) plus the public callback route on a real loopback fastify server, with
 * INVOKE_PUBLIC_URL pointing at it, so a loopback partner can call back like a real one.
 */
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { callbackRoutes } from '../../src/api/routes/callbacks.js';
import { parseEventFields } from '../../src/events/continuation.js';
import { startHarness, type Harness } from '../helpers/harness.js';

export const CALLBACK_KEY = randomBytes(32).toString('base64');
export const API_TOKEN = 'test-token-0123456789abcdef';

export interface CallbackSetup {
  h: Harness;
  server: FastifyInstance;
  base: string;
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; text: string }>;
  events(): Promise<Record<string, string>[]>;
  close(): Promise<void>;
}

export async function startCallbackSetup(env: Record<string, string> = {}): Promise<CallbackSetup> {
  let h: Harness | undefined;
  const cfg = loadConfig({ INVOKE_API_TOKEN: API_TOKEN, LOG_LEVEL: 'silent', ...env });
  const server = await buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [
      callbackRoutes({ complete: (token, body) => h!.app.callbacks.complete(token, body) }, cfg),
    ],
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
  h = await startHarness({
    INVOKE_CALLBACK_KEY: CALLBACK_KEY,
    INVOKE_PUBLIC_URL: base,
    INVOKE_CALLBACK_SWEEP_MS: '200',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const harness = h;
  return {
    h: harness,
    server,
    base,
    async post(path, body, headers = { 'content-type': 'application/json' }) {
      const res = await fetch(base + path, {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    async events() {
      const entries = await harness.redis.xrange(harness.cfg.INVOKE_EVENTS_STREAM, '-', '+');
      return entries.map(([, f]) => parseEventFields(f));
    },
    async close() {
      await server.close();
      await harness.close();
    },
  };
}

/** The callback path from a partner request whose JSON body carries {{ callback.url }}. */
export const callbackPath = (requestBody: string) =>
  new URL(JSON.parse(requestBody).callbackUrl as string).pathname;
