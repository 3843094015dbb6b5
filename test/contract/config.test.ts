import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createScrubber } from '../../src/template/secrets.js';

describe('configuration', () => {
  it('runs with no configuration at all', () => {
    const cfg = loadConfig({});
    expect(cfg.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(cfg.INVOKE_QUEUE).toBe('invoke-api');
    expect(cfg.INVOKE_CTX_TTL_SECONDS).toBe(2592000);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it.each([
    ['INVOKE_CONCURRENCY', 'lots'],
    ['REDIS_URL', 'http://x'],
    ['INVOKE_MAX_RESPONSE_BYTES', '-1'],
    ['LOG_LEVEL', 'loud'],
    ['INVOKE_DENY_PORTS', '22,abc'],
    ['INVOKE_API_TOKEN', 'short'],
  ])('a bad %s stops start-up with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  it('waiting for replicas on callbacks: off by default, bounded, refused on a Cluster', () => {
    const cfg = loadConfig({});
    expect(cfg.INVOKE_CALLBACK_MIN_REPLICAS).toBe(0);
    expect(cfg.INVOKE_CALLBACK_REPLICA_TIMEOUT_MS).toBe(1000);
    for (const [name, value] of [
      ['INVOKE_CALLBACK_MIN_REPLICAS', '-1'],
      ['INVOKE_CALLBACK_REPLICA_TIMEOUT_MS', '0'],
      ['INVOKE_CALLBACK_REPLICA_TIMEOUT_MS', '60000'],
    ] as const)
      expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
    const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7000', BULLMQ_PREFIX: '{bull}' };
    expect(() => loadConfig({ ...cluster, INVOKE_CALLBACK_MIN_REPLICAS: '1' })).toThrow(
      /^INVOKE_CALLBACK_MIN_REPLICAS: not supported with REDIS_CLUSTER_NODES/,
    );
    expect(loadConfig({ ...cluster, INVOKE_CALLBACK_MIN_REPLICAS: '0' })).toBeDefined();
  });

  it('does not echo the token in its error', () => {
    expect(() => loadConfig({ INVOKE_API_TOKEN: 'short' })).toThrow(/<hidden>/);
  });

  it('reads secrets and their host bindings', () => {
    const cfg = loadConfig({
      INVOKE_SECRET_LOYALTY_TOKEN: 'abc',
      INVOKE_SECRET_LOYALTY_TOKEN_HOSTS: 'api.x.com, *.y.com',
      INVOKE_SECRET_OTHER: 'v',
    });
    expect(cfg.secrets.get('LOYALTY_TOKEN')).toEqual({
      name: 'LOYALTY_TOKEN',
      value: 'abc',
      hosts: ['api.x.com', '*.y.com'],
    });
    expect(cfg.secrets.get('OTHER')?.hosts).toBeUndefined();
    expect(cfg.secrets.has('LOYALTY_TOKEN_HOSTS')).toBe(false);
  });
});

describe('logs', () => {
  it('redact Authorization in any case and scrub secret values on every line', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(c, _e, cb) {
        lines.push(String(c));
        cb();
      },
    });
    const scrub = createScrubber(
      new Map([['K', { name: 'K', value: 'hunter2-secret', hosts: undefined }]]),
    );
    const logger = createLogger('info', scrub, sink);
    logger.info(
      {
        headers: { Authorization: 'Bearer abc', authorization: 'Bearer def' },
        req: { headers: { AUTHORIZATION: 'Bearer ghi' } },
      },
      'x',
    );
    logger.info({ note: 'value hunter2-secret inside' }, 'message with hunter2-secret');
    const all = lines.join('');
    for (const leaked of ['abc', 'def', 'ghi', 'hunter2-secret']) expect(all).not.toContain(leaked);
    expect(all).toContain('[REDACTED]');
  });
});
