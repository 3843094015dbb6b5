import { describe, expect, it } from 'vitest';
import { createRenderer } from '../../src/template/render.js';
import { buildScope } from '../../src/template/scope.js';
import { invokeJobSchema } from '../../src/contract/job.js';
import type { InvokeError } from '../../src/contract/errors.js';
import { createScrubber } from '../../src/template/secrets.js';

const secrets = new Map([['TOKEN', { name: 'TOKEN', value: 's3cr3t/+=value', hosts: undefined }]]);
const job = (
  request: object,
  data: object = { customer: { id: 'c1', name: 'Zoë "Z" \\ {{x}}' } },
) =>
  invokeJobSchema.parse({
    v: 1,
    journeyId: 'j',
    runId: 'r',
    stepId: 's',
    customerId: 'c1',
    request: { url: 'https://api.example.com/', ...request },
    data,
    save: { variable: 'v' },
  });

const render = (request: object, data?: object, context: object = {}) => {
  const j = job(request, data);
  const scope = buildScope(j, context as Record<string, unknown>, secrets);
  const rendered = createRenderer().renderRequest(j.request, scope.vars);
  scope.refs.check(rendered);
  // Secrets are references until the HTTP client fills them in (secret-refs.ts): do it here.
  return { out: { ...rendered, ...scope.refs.fill(rendered) }, used: scope.usedSecrets };
};

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as InvokeError).message;
  }
  return 'no error';
};

describe('structure-aware rendering', () => {
  it('renders JSON leaves as exact strings and keeps other types', () => {
    const { out } = render({
      method: 'POST',
      body: {
        name: '{{ customer.name }}',
        n: 1.5,
        b: false,
        z: null,
        nested: [{ id: '{{ customer.id }}' }],
      },
    });
    expect(JSON.parse(out.body!.text)).toEqual({
      name: 'Zoë "Z" \\ {{x}}',
      n: 1.5,
      b: false,
      z: null,
      nested: [{ id: 'c1' }],
    });
  });

  it('exposes journey, run, step, visit and context', () => {
    const { out } = render(
      {
        url: 'https://a.example/{{ journey.id }}/{{ run.id }}/{{ step.id }}/{{ visit }}',
        body: '{{ context.prev.body.x }}',
      },
      undefined,
      { prev: { body: { x: 'y' } } },
    );
    expect(out.url).toBe('https://a.example/j/r/s/1');
    expect(out.body).toEqual({ text: 'y', contentType: 'text/plain; charset=utf-8' });
  });

  it('gives the reserved names precedence over data keys of the same name', () => {
    const data = {
      customer: { id: 'c1' },
      journey: { id: 'from-data' },
      context: { prev: 'from-data' },
      visit: 99,
      secrets: { TOKEN: 'from-data' },
    };
    const { out } = render(
      {
        url: 'https://a.example/{{ journey.id }}/{{ visit }}/{{ context.prev }}/{{ customer.id }}',
        headers: { a: '{{ secrets.TOKEN }}' },
      },
      data,
      { prev: 'saved' },
    );
    expect(out.url).toBe('https://a.example/j/1/saved/c1');
    expect(out.headers.a).toBe('s3cr3t/+=value');
  });

  it('gives a "__proto__" key in the data no way into the scope', () => {
    const data = JSON.parse(
      '{"__proto__": {"other": {"id": "from-proto"}}, "customer": {"id": "c1"}}',
    ) as object;
    const j = job({}, data);
    const scope = buildScope(j, {}, secrets);
    expect(Object.getPrototypeOf(scope.vars)).toBe(Object.prototype);
    expect(
      code(() =>
        createRenderer().renderRequest(
          { ...j.request, url: 'https://a.example/{{ other.id }}' },
          scope.vars,
        ),
      ),
    ).toMatch(/^TEMPLATE_ERROR: request.url/);
  });

  it('percent-encodes URL outputs and query values, but not a whole-URL output', () => {
    expect(
      render({
        url: 'https://a.example/u/{{ customer.name }}',
        query: { q: '{{ customer.name }}' },
      }).out.url,
    ).toBe(
      'https://a.example/u/Zo%C3%AB%20%22Z%22%20%5C%20%7B%7Bx%7D%7D?q=Zo%C3%AB+%22Z%22+%5C+%7B%7Bx%7D%7D',
    );
    expect(render({ url: '{{ next }}' }, { next: 'https://b.example/p?x=1' }).out.url).toBe(
      'https://b.example/p?x=1',
    );
  });

  it('renders form bodies and records which secrets were read', () => {
    const { out, used } = render({
      method: 'POST',
      bodyType: 'form',
      body: { a: '{{ customer.id }}', k: '{{ secrets.TOKEN }}' },
    });
    expect(out.body).toEqual({
      text: 'a=c1&k=s3cr3t%2F%2B%3Dvalue',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect([...used]).toEqual(['TOKEN']);
  });

  it('lower-cases header names and refuses CR/LF in a rendered header value', () => {
    expect(render({ headers: { 'X-Id': '{{ customer.id }}' } }).out.headers).toEqual({
      'x-id': 'c1',
    });
    expect(
      code(() =>
        render(
          { headers: { 'X-Evil': '{{ customer.v }}' } },
          { customer: { v: 'a\r\nHost: evil' } },
        ),
      ),
    ).toBe('TEMPLATE_ERROR: request.headers.X-Evil: rendered value contains CR, LF or NUL');
  });

  it('names the field for undefined variables, syntax errors and unknown filters', () => {
    expect(code(() => render({ body: { a: { b: '{{ customer.missing }}' } } }))).toMatch(
      /^TEMPLATE_ERROR: request\.body\.a\.b: undefined variable: customer\.missing/,
    );
    expect(code(() => render({ url: 'https://a.example/{{ customer.id' }))).toMatch(
      /^TEMPLATE_ERROR: request\.url: /,
    );
    expect(code(() => render({ query: { q: '{{ customer.id | nope }}' } }))).toMatch(
      /^TEMPLATE_ERROR: request\.query\.q: undefined filter: nope/,
    );
    expect(code(() => render({ url: 'not a url {{ customer.id }}' }))).toBe(
      'TEMPLATE_ERROR: request.url: rendered value is not an absolute URL',
    );
  });

  it('does not resolve inherited properties (ownPropertyOnly)', () => {
    expect(code(() => render({ body: '{{ customer.constructor }}' }))).toMatch(/^TEMPLATE_ERROR/);
  });
});

describe('scrubber', () => {
  it('removes raw, URL-encoded and form-encoded secret values', () => {
    const scrub = createScrubber(secrets);
    expect(scrub('a s3cr3t/+=value b s3cr3t%2F%2B%3Dvalue c')).toBe('a [REDACTED] b [REDACTED] c');
  });
});
