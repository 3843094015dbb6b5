/**
 * Log redaction: every REDACT_PATHS path is censored in lines and in child bindings (the same
 * lines as pino configured with those paths directly), and the caller's object is not mutated.
 * Configured secret values are removed by the scrubber (test/producers, test/reliability).
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { createLogger, REDACT_PATHS } from '../../src/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      const o = JSON.parse(String(chunk));
      delete o.time;
      lines.push(o);
      cb();
    },
  });
  return { lines, sink };
}

const records = (): Record<string, unknown>[] => [
  { headers: { authorization: 'S3CR3T', accept: 'json' } },
  { req: { headers: { Authorization: 'S3CR3T', host: 'h' } } },
  {
    upstream: {
      headers: { 'x-api-key': 'S3CR3T', 'X-API-Key': 'S3CR3T', other: 1 },
      token: 'S3CR3T',
    },
    n: 1,
  },
  {
    a: { password: 'S3CR3T', keep: true },
    b: { secrets: { X: 'S3CR3T' } },
    token: 'S3CR3T',
    c: [1, { token: 'deep' }],
    d: null,
  },
  { err: Object.assign(new Error('boom'), { token: 'S3CR3T', headers: { cookie: 'S3CR3T' } }) },
  { nested: { inner: { token: 'two levels: not a path' } }, list: ['x'] },
];

describe('log redaction', () => {
  it('gives the same lines as pino redacting every REDACT_PATHS path itself', () => {
    const ours = capture();
    const ref = capture();
    const logger = createLogger('info', (s) => s, ours.sink);
    const reference = pino(
      {
        level: 'info',
        base: { service: 'invoke-api-worker' },
        redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      },
      ref.sink,
    );
    for (const r of records()) {
      logger.info(r, 'm');
      reference.info(r, 'm');
    }
    logger
      .child({ ctx: { token: 'S3CR3T', headers: { Cookie: 'S3CR3T' } }, plain: 1 })
      .info({ x: { password: 'S3CR3T' } }, 'child');
    reference
      .child({ ctx: { token: 'S3CR3T', headers: { Cookie: 'S3CR3T' } }, plain: 1 })
      .info({ x: { password: 'S3CR3T' } }, 'child');
    // Top-level and nested paths in child bindings, and a grandchild's.
    const bound = { token: 'S3CR3T', headers: { authorization: 'S3CR3T' } };
    logger
      .child(bound)
      .child({ up: { secrets: 'S3CR3T' } })
      .info('grandchild');
    reference
      .child(bound)
      .child({ up: { secrets: 'S3CR3T' } })
      .info('grandchild');
    expect(ours.lines).toEqual(ref.lines);
    expect(JSON.stringify(ours.lines)).toContain('[REDACTED]');
    expect(JSON.stringify(ours.lines)).not.toContain('S3CR3T');
  });

  it('does not mutate the logged object', () => {
    const { sink } = capture();
    const logger = createLogger('info', (s) => s, sink);
    const rec = { upstream: { headers: { authorization: 'a' }, token: 't' } };
    logger.info(rec, 'm');
    expect(rec).toEqual({ upstream: { headers: { authorization: 'a' }, token: 't' } });
  });
});
