/**
 * fast-check arbitraries for the fuzz test: mutated job data (valid jobs with fields removed,
 * retyped, templated with good and bad Liquid, pointed at blocked or dead destinations) and
 * hostile upstream replies (any status, odd headers and content types, random bytes, lies about
 * length, cut connections, bad gzip, slow headers).
 */
import fc from 'fast-check';
import type http from 'node:http';

export interface Reply {
  status: number;
  contentType: string | undefined;
  headers: [string, string][];
  body: Uint8Array;
  mode: 'normal' | 'truncate' | 'destroy' | 'hang-body' | 'bad-gzip';
  delayMs: number;
}

const headerValue = fc.string({
  unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@ABCXYZabcxyz[]^_{|}~'.split('')),
  maxLength: 40,
});

export const replyArb: fc.Arbitrary<Reply> = fc.record({
  status: fc.oneof(
    fc.constant(200),
    fc.constantFrom(200, 201, 204, 301, 302, 304, 400, 404, 408, 425, 429, 500, 502, 503, 504),
    fc.integer({ min: 200, max: 599 }),
  ),
  contentType: fc.option(
    fc.constantFrom(
      'application/json',
      'application/problem+json',
      'text/plain',
      'text/html; charset=utf-8',
      'application/octet-stream',
      'application/json; charset=utf-16',
      'image/png',
      '',
      ';;;',
    ),
    { nil: undefined },
  ),
  headers: fc.array(
    fc.tuple(
      fc.constantFrom(
        'retry-after',
        'location',
        'etag',
        'x-request-id',
        'x-custom',
        'set-cookie',
        'last-modified',
      ),
      headerValue,
    ),
    { maxLength: 3 },
  ),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 2048 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'null')),
    fc.integer({ min: 4000, max: 9000 }).map((n) => new Uint8Array(n).fill(0x61)),
  ),
  mode: fc.oneof(
    { arbitrary: fc.constant('normal' as const), weight: 8 },
    fc.constantFrom('truncate', 'destroy', 'hang-body', 'bad-gzip'),
  ),
  delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 })),
});

/** Writes a scripted reply; never throws into the server (a bad header just cuts the socket). */
export function sendReply(res: http.ServerResponse, r: Reply): void {
  setTimeout(() => {
    try {
      if (r.mode === 'destroy') return void res.socket?.destroy();
      const headers: Record<string, string> = Object.fromEntries(r.headers);
      if (r.contentType !== undefined) headers['content-type'] = r.contentType;
      if (r.mode === 'bad-gzip') headers['content-encoding'] = 'gzip';
      if (r.mode === 'truncate') headers['content-length'] = String(r.body.length + 10);
      res.writeHead(r.status, headers);
      if (r.mode === 'hang-body') return void res.write(r.body.subarray(0, 10));
      if (r.mode === 'truncate') {
        res.write(r.body);
        return void setTimeout(() => res.socket?.destroy(), 5);
      }
      res.end(r.body);
    } catch {
      res.socket?.destroy();
    }
  }, r.delayMs);
}

const liquid = fc.constantFrom(
  '{{ customer.id }}',
  '{{ nope.nothing }}',
  '{% if %}',
  '{{ secrets.TOKEN }}',
  '{{ secrets.MISSING }}',
  '{{ context.loyalty.body }}',
  '{{ run.id | upcase }}',
  '{{',
  '}}',
  '{% raw %}',
  '\u0000',
  '%zz',
  'é😀',
);

// biome-ignore lint/suspicious/noExplicitAny: mutations reach into arbitrary job shapes on purpose.
type Mutation = (job: Record<string, any>) => void;
const topKeys = [
  'v',
  'journeyId',
  'runId',
  'stepId',
  'visit',
  'customerId',
  'request',
  'deadlineMs',
  'data',
  'save',
  'onFailure',
];
const requestKeys = [
  'method',
  'url',
  'query',
  'headers',
  'body',
  'bodyType',
  'timeoutMs',
  'idempotencyHeader',
  'followRedirects',
];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...topKeys).map(
    (k): Mutation =>
      (j) =>
        void delete j[k],
  ),
  fc.tuple(fc.constantFrom(...topKeys), fc.jsonValue({ maxDepth: 2 })).map(
    ([k, v]): Mutation =>
      (j) => {
        j[k] = v;
      },
  ),
  fc.tuple(fc.constantFrom(...requestKeys), fc.jsonValue({ maxDepth: 2 })).map(
    ([k, v]): Mutation =>
      (j) => {
        j.request[k] = v;
      },
  ),
  fc.tuple(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })).map(
    ([k, v]): Mutation =>
      (j) => {
        j[`x${k}`] = v;
      },
  ),
  liquid.map(
    (t): Mutation =>
      (j) => {
        j.request.url += `/${t}`;
      },
  ),
  fc
    .tuple(fc.constantFrom('x-a', 'authorization', 'bad header', 'host', 'content-length'), liquid)
    .map(
      ([h, t]): Mutation =>
        (j) => {
          j.request.headers = { ...j.request.headers, [h]: t };
        },
    ),
  fc.tuple(liquid, fc.constantFrom('json', 'form', 'text')).map(
    ([t, bt]): Mutation =>
      (j) =>
        void Object.assign(j.request, {
          method: 'POST',
          body: { a: t, n: 1, deep: [t, { b: t }] },
          bodyType: bt,
        }),
  ),
  fc
    .constantFrom(
      'http://10.0.0.1/x',
      'ftp://127.0.0.1/x',
      'not a url',
      'http://127.0.0.1:1/refused',
      'http://[::1]/x',
      'http://169.254.169.254/latest',
    )
    .map(
      (u): Mutation =>
        (j) => {
          j.request.url = u;
        },
    ),
  fc.constantFrom('GET', 'HEAD', 'DELETE', 'PUT', 'PATCH', 'get', 'TRACE').map(
    (m): Mutation =>
      (j) => {
        j.request.method = m;
      },
  ),
  fc
    .dictionary(
      fc.string({ minLength: 1, maxLength: 6 }),
      fc.constantFrom('body.a', 'status', 'headers.etag', 'body', 'nope', 'body.0.x'),
    )
    .map(
      (pick): Mutation =>
        (j) => {
          j.save.pick = pick;
        },
    ),
  fc.constantFrom('hold', 'continue', 'maybe').map(
    (f): Mutation =>
      (j) => {
        j.onFailure = f;
      },
  ),
  fc.integer({ min: -5, max: 3 }).map(
    (n): Mutation =>
      (j) => {
        j.deadlineMs = n;
      },
  ),
  fc.integer({ min: 50, max: 600 }).map(
    (ms): Mutation =>
      (j) => {
        j.request.timeoutMs = ms;
      },
  ),
  fc.boolean().map(
    (b): Mutation =>
      (j) => {
        j.request.followRedirects = b;
      },
  ),
);

export interface FuzzCase {
  reply: Reply;
  mutations: readonly Mutation[];
  whole: unknown;
  useWhole: boolean;
  attempts: number;
}

export const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
  reply: replyArb,
  mutations: fc.oneof(
    { arbitrary: fc.constant([]), weight: 2 },
    { arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }), weight: 3 },
  ),
  whole: fc.jsonValue({ maxDepth: 3 }),
  useWhole: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  attempts: fc.integer({ min: 1, max: 3 }),
});

/** The job data of a case: a valid job calling /f/<id>, mutated (or, rarely, any JSON at all). */
export function caseData(c: FuzzCase, id: number, upstream: string): unknown {
  if (c.useWhole) return c.whole;
  const job: Record<string, any> = {
    v: 1,
    journeyId: 'fuzz',
    runId: `fz-${id}`,
    stepId: 'step',
    customerId: 'cus-1',
    request: { method: 'GET', url: `${upstream}/f/${id}`, timeoutMs: 500 },
    data: { customer: { id: 'cus-1' } },
    save: { variable: 'loyalty' },
  };
  for (const m of c.mutations) {
    try {
      m(job);
    } catch {
      // a mutation of a field an earlier mutation replaced: skip it
    }
  }
  return job;
}
