/**
 * src/patches/pino-child-bindings.ts relies on two things pino 10.4 does: a child is made with
 * Object.create(parent), so a `child` set on the root is the one every descendant calls; and
 * pino has no hook of its own for this (the root's formatters.bindings is not run for children).
 * The lines themselves are compared with pino's own redaction in test/perf/logger-redact.test.ts.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { formatChildBindings } from '../../src/patches/pino-child-bindings.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { lines, sink };
}

const mark = (b: pino.Bindings) => ({ ...b, formatted: true });

describe('pino child bindings', () => {
  it("children of children call the root's child(), so each one's bindings are formatted", () => {
    const { lines, sink } = capture();
    const root = pino({ base: null, timestamp: false }, sink);
    formatChildBindings(root, mark);
    const child = root.child({ a: 1 });
    expect(Object.getPrototypeOf(child)).toBe(root);
    child.child({ b: 2 }, { level: 'info' }).info('grandchild');
    expect(lines).toEqual([{ level: 30, a: 1, formatted: true, b: 2, msg: 'grandchild' }]);
  });

  it("pino itself still skips the root's bindings formatter for children (else: use it, drop the patch)", () => {
    const { lines, sink } = capture();
    const root = pino({ base: null, timestamp: false, formatters: { bindings: mark } }, sink);
    root.child({ a: 1 }).info('child');
    expect(lines).toEqual([{ level: 30, a: 1, msg: 'child' }]);
  });
});
