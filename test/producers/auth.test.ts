/** Bearer auth of the HTTP API: fixed-length comparison, and no unauthenticated non-loopback bind. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer, UnsafeBindError } from '../../src/api/server.js';
import { tokenMatches } from '../../src/api/auth.js';
import { invocationRoutes } from '../../src/api/routes/invocations.js';

const TOKEN = 'a-long-enough-token-123';
const logger = createLogger('silent', (s) => s);
// Routes whose I/O is never reached: these tests stop at auth or validation.
const unreachable = async () => {
  throw new Error('must not be called');
};
const plugins = [
  invocationRoutes({
    client: { enqueue: unreachable, enqueueMany: unreachable, status: unreachable },
    dryRun: { run: unreachable },
  }),
];
const server = (env: Record<string, string>) =>
  buildServer({
    cfg: loadConfig({ LOG_LEVEL: 'silent', ...env }),
    logger,
    readiness: { checks: {} },
    plugins,
  });

describe('tokenMatches', () => {
  it('compares digests, so tokens of any length are compared without throwing or short-circuiting on length', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
    expect(tokenMatches(TOKEN, '')).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(tokenMatches(TOKEN, `${TOKEN}${'x'.repeat(10_000)}`)).toBe(false);
  });
});

describe('binding', () => {
  it('refuses a non-loopback bind without INVOKE_API_TOKEN, naming the variable', async () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5']) {
      const err = await server({ INVOKE_API_HOST: host }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsafeBindError);
      expect((err as Error).message).toMatch(/^INVOKE_API_TOKEN/);
    }
  });

  it('binds anywhere with a token, and then requires it', async () => {
    const app = await server({ INVOKE_API_HOST: '0.0.0.0', INVOKE_API_TOKEN: TOKEN });
    try {
      expect(
        (await app.inject({ method: 'POST', url: '/v1/invocations', payload: {} })).statusCode,
      ).toBe(401);
      const basic = Buffer.from(`any:${TOKEN}`).toString('base64');
      expect(
        (
          await app.inject({
            method: 'POST',
            url: '/v1/invocations',
            payload: {},
            headers: { authorization: `Basic ${basic}` },
          })
        ).statusCode,
      ).toBe(400);
    } finally {
      await app.close();
    }
  });

  it('on loopback without a token, serves without auth', async () => {
    const app = await server({ INVOKE_API_HOST: '127.0.0.1' });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      expect(
        (await app.inject({ method: 'POST', url: '/v1/invocations', payload: {} })).statusCode,
      ).toBe(400);
    } finally {
      await app.close();
    }
  });
});
