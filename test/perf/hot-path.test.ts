/**
 * Hot-path rewrites made for throughput (scripts/bench) keep their old meaning:
 * needsContext looks only where templates are (and is true whenever a render reads the
 * context), and the renderer names the field of a failing
 * template even when it skips naming plain leaves.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Liquid } from 'liquidjs';
import { needsContext } from '../../src/template/scope.js';
import { createRenderer } from '../../src/template/render.js';
import { InvokeError } from '../../src/contract/errors.js';
import type { InvokeJob } from '../../src/contract/job.js';

const withRequest = (request: unknown) => ({ request }) as unknown as InvokeJob;

describe('needsContext', () => {
  const renderer = createRenderer();
  const word = fc.oneof(
    fc.constantFrom(
      'context',
      'con',
      'text',
      '{{ context.a }}',
      '{% if context.a %}y{% endif %}',
      '{{ customer.id }}',
      'ctx {{',
      '',
    ),
    fc.string({ maxLength: 6 }),
  );
  const node = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      word,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(word, tie('node'), { maxKeys: 4 }),
    ),
  })).node;
  const request = fc.record({
    url: fc.constantFrom(
      'http://x.test/a',
      'http://x.test/{{ context.a }}',
      'http://x.test/{{ customer.id }}',
    ),
    query: fc.dictionary(word, word, { maxKeys: 2 }),
    headers: fc.dictionary(fc.constantFrom('x-a', 'x-context'), word, { maxKeys: 2 }),
    body: node,
  });

  it('is true whenever rendering the request reads the context', () => {
    fc.assert(
      fc.property(request, (req) => {
        let read = false;
        const scope = {
          customer: { id: 'c1' },
          get context() {
            read = true;
            return { a: 'v' };
          },
        };
        try {
          renderer.renderRequest(
            { method: 'POST', followRedirects: false, ...req } as InvokeJob['request'],
            scope,
          );
        } catch (err) {
          if (!(err instanceof InvokeError)) throw err;
        }
        return !read || needsContext(withRequest(req));
      }),
      { numRuns: 2000 },
    );
  });

  it('does not load the context for "context" in body keys or plain text', () => {
    expect(
      needsContext(
        withRequest({
          url: 'http://x.test/',
          body: { context: 'the context of it', items: [{ contextual: 'plain' }] },
        }),
      ),
    ).toBe(false);
    expect(
      needsContext(
        withRequest({
          url: 'http://x.test/',
          body: { items: [{ a: 'plain' }, { b: 'x {{ context.last.body.id }}' }] },
        }),
      ),
    ).toBe(true);
    expect(
      needsContext(withRequest({ url: 'http://x.test/', query: { '{{ context.k }}': 'v' } })),
    ).toBe(true);
    expect(
      needsContext(withRequest({ url: 'http://x.test/', headers: { 'x-a': '{{ context.t }}' } })),
    ).toBe(true);
  });
});

describe('renderer field names', () => {
  const r = createRenderer();
  const scope = { customer: { id: 'c1' } };
  const render = (body: unknown) =>
    r.renderRequest({ method: 'POST', url: 'http://x.test/', body, followRedirects: false }, scope);

  it('names the path of a failing template deep in a body full of plain leaves', () => {
    const body = {
      items: [
        { sku: 'a', n: 1 },
        { sku: 'b', name: '{{ customer.nope }}' },
      ],
      flag: true,
    };
    expect(() => render(body)).toThrow(InvokeError);
    expect(() => render(body)).toThrow(/^TEMPLATE_ERROR: request\.body\.items\[1\]\.name: /);
    expect(() => render(['x', '{{ missing }}'])).toThrow(/request\.body\[1\]: /);
  });

  it('keeps plain leaves as they are and renders templated ones', () => {
    const out = render({ a: [1, null, 'x', { b: '{{ customer.id }}' }], c: false });
    expect(JSON.parse(out.body!.text)).toEqual({ a: [1, null, 'x', { b: 'c1' }], c: false });
  });
});

describe('the renderer fast path', () => {
  const options = { strictVariables: true, strictFilters: true, ownPropertyOnly: true } as const;
  const encode = (v: unknown) => encodeURIComponent(String(v));
  const refPlain = new Liquid(options);
  const refUrl = new Liquid({ ...options, outputEscape: encode });
  const outcome = (fn: () => string) => {
    try {
      return { ok: fn() };
    } catch {
      return { threw: true };
    }
  };
  const key = fc.constantFrom('a', 'b', 'size', 'first', 'n', 'true', 'nil', 'x_1');
  const leaf = fc.oneof(
    fc.constantFrom('a/b?c=d é', 'x y', '%', '&=#'),
    fc.string({ maxLength: 5 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.constant('a/b?c=d é'),
  );
  const scopeArb = fc
    .letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(key, tie('node'), { maxKeys: 4 }),
      ),
    }))
    .node.map((n) => ({ root: n, a: n, b: { a: n, n: 7, t: true, size: 's p' } }));
  const path = fc.array(key, { minLength: 1, maxLength: 3 }).map((p) => p.join('.'));
  const simple = fc
    .oneof(path, fc.constantFrom('root', 'a.a', 'b.n', 'b.t'))
    .map((p) => `{{ ${p} }}`);
  const piece = fc.oneof(
    { arbitrary: simple, weight: 4 },
    fc.constantFrom('', '/', 'x', ' ', '-', '?q=', '{', '}', '{%', 'é'),
    fc
      .tuple(
        fc.constantFrom('{{', '{{-'),
        fc.constantFrom('', ' ', '  '),
        fc.oneof(path, fc.constantFrom('root', 'a.a', 'b.n', 'b.t', 'root | upcase', 'nope.x')),
        fc.constantFrom('', ' '),
        fc.constantFrom('}}', '-}}'),
      )
      .map((t) => t.join('')),
  );
  const template = fc
    .array(piece, { minLength: 1, maxLength: 5 })
    .map((p) => p.join(''))
    .filter((t) => t.includes('{{'));

  it('renders exactly what liquid renders, or fails where liquid fails', () => {
    const r = createRenderer();
    expect(
      r.renderRequest(
        { method: 'GET', url: 'http://h.test/p/{{ a }}/{{ b.n }}', followRedirects: false },
        { a: 'x/y?z é', b: { n: 1.5 } },
      ).url,
    ).toBe('http://h.test/p/x%2Fy%3Fz%20%C3%A9/1.5');
    fc.assert(
      fc.property(template, scopeArb, (src, scope) => {
        const ours = outcome(() => r.renderString(src, scope, 'f'));
        const ref = outcome(() => String(refPlain.parseAndRenderSync(src, scope)));
        expect(ours).toEqual(ref);
        const url = `http://h.test/p${src}`;
        const oursUrl = outcome(
          () => r.renderRequest({ method: 'GET', url, followRedirects: false }, scope).url,
        );
        const refUrlOut = outcome(() =>
          new URL(String(refUrl.parseAndRenderSync(url, scope))).toString(),
        );
        expect(oursUrl).toEqual(refUrlOut);
      }),
      { numRuns: 500 },
    );
  });
});
