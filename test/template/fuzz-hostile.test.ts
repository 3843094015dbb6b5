/**
 * Issue 18: property-based fuzz of hostile templates and hostile customer data against the
 * real renderer and secret references: every render either succeeds or is a TEMPLATE_ERROR
 * (no other throw, no stall past the budget), no secret value ever appears in what the
 * renderer returns, and a request that passes the checks never has a secret in its host.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRenderer } from '../../src/template/render.js';
import { buildScope } from '../../src/template/scope.js';
import { invokeJobSchema } from '../../src/contract/job.js';
import { InvokeError } from '../../src/contract/errors.js';

const SECRET = 'Fz_S3cret/+=Value';
const secrets = new Map([['K', { name: 'K', value: SECRET, hosts: ['api.example'] }]]);
const BUDGET_MS = 20;
const renderer = createRenderer({ budgetMs: BUDGET_MS, maxBodyChars: 64 * 1024 });

const fragments = fc.constantFrom(
  '{{ secrets.K }}',
  '{{ secrets.K | upcase }}',
  '{{ secrets.K | slice: 1, 5 }}',
  '{{ secrets.K | base64_encode }}',
  '{{ customer.v }}',
  '{{ customer.v | append: customer.v }}',
  '{% for i in (1..100000000) %}x{% endfor %}',
  '{% for i in (1..3000) %}{% for j in (1..3000) %}{% endfor %}{% endfor %}',
  '{% include "package.json" %}',
  '{% render secrets.K %}',
  '{% layout "x" %}',
  '{% capture c %}{{ customer.v }}{% endcapture %}{{ c }}',
  '{% assign s = "ab" %}{% for i in (1..30) %}{% assign s = s | append: s %}{% endfor %}{{ s }}',
  '{{ nope.nothing }}',
  '{{ customer.v | nosuchfilter }}',
  '{%',
  '}}',
  '../',
  '..',
  '/',
  '\\\\',
  '%2e%2e',
  '{{',
  'x',
);
const template = fc.array(fragments, { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
const hostileValue = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '../admin',
    '%2e%2e',
    'a/b',
    'a\\\\b',
    'Łukasz',
    'Zoë €',
    'a\r\nX-Injected: 1',
    '\u0000',
    '{{ secrets.K }}',
    SECRET,
  ),
  fc.string({ maxLength: 50 }),
  fc.constant('y'.repeat(20000)),
);

describe('fuzz: hostile templates and data', () => {
  it('render is a success or a TEMPLATE_ERROR, within budget, never holding a secret value', () => {
    fc.assert(
      fc.property(template, template, template, hostileValue, (url, header, body, v) => {
        const job = invokeJobSchema.parse({
          v: 1,
          journeyId: 'j',
          runId: 'r',
          stepId: 's',
          customerId: 'c',
          save: { variable: 'x' },
          data: { customer: { v } },
          request: {
            method: 'POST',
            url: `https://api.example/p/${url}`,
            headers: { 'x-h': header },
            body: { b: body },
          },
        });
        const scope = buildScope(job, {}, secrets);
        const started = performance.now();
        try {
          const out = renderer.renderRequest(job.request, scope.vars);
          scope.refs.check(out);
          const text = JSON.stringify(out);
          expect(text).not.toContain(SECRET);
          expect(text.toLowerCase()).not.toContain(SECRET.toLowerCase());
          expect(new URL(out.url).hostname).toBe('api.example');
          const filled = scope.refs.fill(out);
          expect(new URL(filled.url).hostname).toBe('api.example');
        } catch (err) {
          expect(err).toBeInstanceOf(InvokeError);
          expect((err as InvokeError).code).toBe('TEMPLATE_ERROR');
          expect((err as InvokeError).message).not.toContain(SECRET);
        }
        // Two budgets (the retry for a render that waited on the CPU) plus slack for one step.
        expect(performance.now() - started).toBeLessThan(2 * BUDGET_MS + 400);
      }),
      { numRuns: 150, seed: 18 },
    );
  }, 120_000);
});
