/**
 * Hot-path rewrites made for throughput (scripts/bench) keep their old meaning:
 * needsContext walks instead of JSON.stringify, and the renderer names the field of a failing
 * template even when it skips naming plain leaves.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { needsContext } from '../../src/template/scope.js';
import { createRenderer } from '../../src/template/render.js';
import { InvokeError } from '../../src/contract/errors.js';
import type { InvokeJob } from '../../src/contract/job.js';

const withRequest = (request: unknown) => ({ request }) as unknown as InvokeJob;
const word = fc.oneof(fc.constantFrom('context', 'con', 'text', '{{ context.a }}', 'ctx', ''), fc.string({ maxLength: 6 }));

describe('needsContext', () => {
  it('answers like JSON.stringify(request).includes("context") did', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, word, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(word, tie('node'), { maxKeys: 4 })),
    })).node;
    fc.assert(fc.property(value, (v) => needsContext(withRequest(v)) === JSON.stringify(v).includes('context')), { numRuns: 2000 });
  });
});

describe('renderer field names', () => {
  const r = createRenderer();
  const scope = { customer: { id: 'c1' } };
  const render = (body: unknown) => r.renderRequest({ method: 'POST', url: 'http://x.test/', body, followRedirects: false }, scope);

  it('names the path of a failing template deep in a body full of plain leaves', () => {
    const body = { items: [{ sku: 'a', n: 1 }, { sku: 'b', name: '{{ customer.nope }}' }], flag: true };
    expect(() => render(body)).toThrow(InvokeError);
    expect(() => render(body)).toThrow(/^TEMPLATE_ERROR: request\.body\.items\[1\]\.name: /);
    expect(() => render(['x', '{{ missing }}'])).toThrow(/request\.body\[1\]: /);
  });

  it('keeps plain leaves as they are and renders templated ones', () => {
    const out = render({ a: [1, null, 'x', { b: '{{ customer.id }}' }], c: false });
    expect(JSON.parse(out.body!.text)).toEqual({ a: [1, null, 'x', { b: 'c1' }], c: false });
  });
});
