/**
 * Structure-aware rendering of a step's request (contract section 1, Templates).
 *
 * Each string leaf is its own liquid template, so a customer value containing quotes,
 * backslashes, newlines or "{{" can never break the JSON around it: it is data, inserted after
 * parsing. Non-string leaves (numbers, booleans, null) are kept as they are. In the URL every
 * {{ output }} is percent-encoded (so "a/b?x" stays inside one path segment); query values are
 * rendered raw and encoded by URLSearchParams. Strict variables and filters: an undefined
 * variable is a TEMPLATE_ERROR, never an empty string sent to a partner.
 */
import type { Liquid, Template } from 'liquidjs';
import { performance } from 'node:perf_hooks';
import type { InvokeRequest } from '../contract/job.js';
import { InvokeError } from '../contract/errors.js';
import { ownPath } from '../lib/own-path.js';
import {
  createEngine,
  renderBounded,
  TEMPLATE_MEMORY_LIMIT,
  TEMPLATE_PARSE_LIMIT,
} from './engine.js';
import { createTurnGate, RenderBudget } from './budget.js';
import type { SecretRefs } from './secret-refs.js';
import { unknownSecretHint } from './secrets.js';

export interface RenderedRequest {
  method: InvokeRequest['method'];
  url: string;
  headers: Record<string, string>;
  /** The bytes to send and their content type, or undefined for no body. */
  body: { text: string; contentType: string } | undefined;
  timeoutMs: number | undefined;
  followRedirects: boolean;
  /** References to secrets in url, headers and body, filled in only by the HTTP client. */
  secretRefs?: SecretRefs;
}

const CACHE_LIMIT = 5000;
const hasTags = (s: string) => s.includes('{{') || s.includes('{%');
const CONTROL_CHARS = /[\r\n\0]/;
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * The common template, literal text around plain `{{ a.b.c }}` outputs, is rendered without
 * liquidjs's generator machinery when every output resolves, through own properties of plain
 * objects, to a string, number or boolean: then liquid's result is exactly the text joined with
 * String(value) (escaped for URLs). Anything else (filters, tags, whitespace control, arrays,
 * null, missing variables, braces in the text) goes to liquid, which also raises the errors.
 * (A 20-variable body rendered 4x faster; test/perf/hot-path.test.ts compares with liquid.)
 */
interface Plan {
  literals: string[];
  paths: string[][];
}
const OUTPUT = /\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}/g;
const LIQUID_LITERALS = new Set(['true', 'false', 'nil', 'null', 'empty', 'blank']);

function planOf(source: string): Plan | undefined {
  const literals: string[] = [];
  const paths: string[][] = [];
  let last = 0;
  for (const m of source.matchAll(OUTPUT)) {
    literals.push(source.slice(last, m.index));
    paths.push(m[1]!.split('.'));
    last = m.index + m[0].length;
  }
  literals.push(source.slice(last));
  if (
    literals.some((l) => l.includes('{') || l.includes('}')) ||
    paths.some((p) => LIQUID_LITERALS.has(p[0]!))
  )
    return undefined;
  return { literals, paths };
}

function lookup(scope: object, path: string[]): string | number | boolean | undefined {
  const cur = ownPath(scope, path);
  return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean'
    ? cur
    : undefined;
}

/** A bounded cache of parsed templates: steps are few, customers are many. */
class TemplateCache {
  private readonly map = new Map<string, { plan: Plan | undefined; liquid: Template[] }>();
  constructor(
    private readonly liquid: Liquid,
    private readonly escapeOutput: (v: unknown) => string = String,
  ) {}
  render(source: string, scope: object, budget: RenderBudget, maxChars: number): string {
    const entry = this.get(source);
    if (entry.plan) {
      const fast = this.renderPlan(entry.plan, scope);
      if (fast !== undefined) {
        if (fast.length > maxChars) throw new OutputLimit(maxChars);
        return fast;
      }
    }
    return renderBounded(this.liquid, entry.liquid, scope, budget.timeLeft(), maxChars);
  }
  private renderPlan({ literals, paths }: Plan, scope: object): string | undefined {
    let out = literals[0]!;
    for (let i = 0; i < paths.length; i++) {
      const v = lookup(scope, paths[i]!);
      if (v === undefined) return undefined;
      out += this.escapeOutput(v) + literals[i + 1]!;
    }
    return out;
  }
  private get(source: string) {
    let entry = this.map.get(source);
    if (entry === undefined) {
      const plan = planOf(source);
      // Parse now even with a plan: a syntax error must surface on first use, as before.
      entry = { plan, liquid: this.liquid.parse(source) };
      if (this.map.size >= CACHE_LIMIT) this.map.delete(this.map.keys().next().value as string);
      this.map.set(source, entry);
    }
    return entry;
  }
}

class PathValueError extends Error {
  constructor(value: string) {
    super(
      `a value rendered into the URL is "${value}", which would change the path's segments; check the data`,
    );
  }
}

class OutputLimit extends Error {
  constructor(readonly max: number) {
    super(`output is over ${max} characters`);
  }
}

/** Longest rendered URL, header value, query key or value (characters). */
export const MAX_URL_CHARS = 16 * 1024;
export const MAX_FIELD_CHARS = 8 * 1024;

export interface RendererOptions {
  /** Render time of one job's whole request (INVOKE_TEMPLATE_BUDGET_MS). */
  budgetMs: number;
  /** Characters the body may render to (INVOKE_MAX_REQUEST_BYTES). */
  maxBodyChars: number;
}

export function createRenderer(opts: RendererOptions = { budgetMs: 50, maxBodyChars: 256 * 1024 }) {
  const encode = (v: unknown) => {
    const s = String(v);
    // encodeURIComponent keeps dots, and URL parsers remove "." and ".." segments (%2E too):
    // a value of only dots would climb out of its segment. '/', '\\' and '%' are encoded.
    if (s === '.' || s === '..') throw new PathValueError(s);
    return encodeURIComponent(s);
  };
  const plain = new TemplateCache(createEngine());
  const urlEncoded = new TemplateCache(createEngine({ outputEscape: encode }), encode);
  const gate = createTurnGate();
  /** The budget of the render in progress (renders are synchronous: one at a time). */
  let budget = new RenderBudget(opts.budgetMs, opts.maxBodyChars);
  /** The tenant of the job being rendered: an unknown secret's hint depends on it. */
  let tenant: string | undefined;

  /** `where` names the field in a TEMPLATE_ERROR; a function when naming it costs (body paths). */
  function renderString(
    source: string,
    scope: object,
    where: string | (() => string),
    cache = plain,
    maxChars = MAX_FIELD_CHARS,
  ): string {
    if (!hasTags(source)) {
      if (source.length > maxChars)
        throw templateError(
          new OutputLimit(maxChars),
          typeof where === 'string' ? where : where(),
          opts.budgetMs,
          tenant,
        );
      return source;
    }
    try {
      return cache.render(source, scope, budget, maxChars);
    } catch (err) {
      throw templateError(err, typeof where === 'string' ? where : where(), opts.budgetMs, tenant);
    }
  }

  /** A JSON body's string leaves share the body's character allowance. */
  function renderBodyString(source: string, scope: object, where: () => string): string {
    const out = renderString(source, scope, where, plain, budget.bodyCharsLeft);
    budget.bodyCharsLeft -= out.length;
    return out;
  }

  // The field path ("request.body.items[3].name") is a stack of keys named only when a template
  // fails, and a container without templates is returned as it is (copy on write): a 10 KiB
  // body has hundreds of plain leaves, and naming, listing and copying each cost more than
  // rendering (no Object.entries arrays, no path string per container: scripts/bench).
  const isPlain = (v: unknown) =>
    v === null || (typeof v !== 'object' && (typeof v !== 'string' || !hasTags(v)));
  const pathName = (path: (string | number)[]) =>
    path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');

  function renderJson(value: unknown, scope: object, path: (string | number)[]): unknown {
    if (typeof value === 'string') return renderBodyString(value, scope, () => pathName(path));
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (isPlain(v)) continue;
        path.push(i);
        const r = renderJson(v, scope, path);
        path.pop();
        if (r !== v) (out ??= value.slice())[i] = r;
      }
      return out ?? value;
    }
    if (value !== null && typeof value === 'object') {
      let out: Record<string, unknown> | undefined;
      const obj = value as Record<string, unknown>;
      for (const k in obj) {
        const v = obj[k];
        if (isPlain(v)) continue;
        path.push(k);
        const r = renderJson(v, scope, path);
        path.pop();
        if (r !== v) (out ??= { ...obj })[k] = r;
      }
      return out ?? value;
    }
    return value;
  }

  function renderUrl(req: InvokeRequest, scope: object): string {
    // A URL that is one output ("{{ context.next.body.url }}") is a whole URL from data: not encoded.
    const whole = /^\{\{[^{}]*\}\}$/.test(req.url.trim());
    const rendered = renderString(
      req.url,
      scope,
      'request.url',
      whole ? plain : urlEncoded,
      MAX_URL_CHARS,
    );
    let url: URL;
    try {
      url = new URL(rendered);
    } catch {
      throw new InvokeError('TEMPLATE_ERROR', 'request.url: rendered value is not an absolute URL');
    }
    for (const [k, v] of Object.entries(req.query ?? {})) {
      url.searchParams.append(
        renderString(k, scope, `request.query.${k}`),
        renderString(v, scope, `request.query.${k}`),
      );
    }
    return url.toString();
  }

  function renderHeaders(req: InvokeRequest, scope: object): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, template] of Object.entries(req.headers ?? {})) {
      const value = renderString(template, scope, `request.headers.${name}`);
      // CR/LF/NUL would split the header block (request smuggling); refuse, naming the header.
      if (CONTROL_CHARS.test(value))
        throw new InvokeError(
          'TEMPLATE_ERROR',
          `request.headers.${name}: rendered value contains CR, LF or NUL`,
        );
      // HTTP/1.1 carries visible ASCII, space and tab (RFC 9110 5.5; obs-text is not read the
      // same way by every server): refused here, before any connection, not left to Node.
      if (!HEADER_VALUE.test(value))
        throw new InvokeError(
          'TEMPLATE_ERROR',
          `request.headers.${name}: rendered value has characters a header cannot carry (only visible ASCII, space and tab); encode it, e.g. {{ value | url_encode }}`,
        );
      out[name.toLowerCase()] = value;
    }
    return out;
  }

  function renderBody(req: InvokeRequest, scope: object): RenderedRequest['body'] {
    if (req.body === undefined || (req.body === null && req.bodyType === undefined))
      return undefined;
    const type = req.bodyType ?? (typeof req.body === 'string' ? 'text' : 'json');
    switch (type) {
      case 'json':
        return {
          text: JSON.stringify(renderJson(req.body, scope, ['request.body'])),
          contentType: 'application/json',
        };
      case 'form': {
        if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
          throw new InvokeError(
            'INVALID_JOB',
            'request.body: a form body must be an object of strings',
          );
        }
        const form = new URLSearchParams();
        for (const [k, v] of Object.entries(req.body))
          form.append(
            k,
            renderBodyString(String(v), scope, () => `request.body.${k}`),
          );
        return { text: form.toString(), contentType: 'application/x-www-form-urlencoded' };
      }
      case 'text':
        if (typeof req.body !== 'string')
          throw new InvokeError('INVALID_JOB', 'request.body: a text body must be a string');
        return {
          text: renderBodyString(req.body, scope, () => 'request.body'),
          contentType: 'text/plain; charset=utf-8',
        };
    }
  }

  /**
   * Renders the whole request within one time budget; throws InvokeError TEMPLATE_ERROR naming
   * the field. Await ready() first when it returns a promise (createTurnGate). `tenantId` is
   * the job's (for the hint of an unknown secret).
   */
  function renderRequest(req: InvokeRequest, scope: object, tenantId?: string): RenderedRequest {
    tenant = tenantId;
    const started = performance.now();
    const cpuMs = gate.startRender();
    try {
      return renderAll(req, scope);
    } catch (err) {
      // The budget is wall time (liquidjs checks performance.now()): a render that was mostly
      // waiting for the CPU (a busy machine, a GC pause) gets one more budget; a template that
      // used the CPU it was given does not.
      if (!overTime(err)) throw err;
      if (cpuMs() >= opts.budgetMs / 2) throw err;
      return renderAll(req, scope);
    } finally {
      gate.charge(performance.now() - started);
    }
  }

  function renderAll(req: InvokeRequest, scope: object): RenderedRequest {
    budget = new RenderBudget(opts.budgetMs, opts.maxBodyChars);
    return {
      method: req.method,
      url: renderUrl(req, scope),
      headers: renderHeaders(req, scope),
      body: renderBody(req, scope),
      timeoutMs: req.timeoutMs,
      followRedirects: req.followRedirects,
    };
  }

  /** One template alone (cache keys, conditions), with a budget of its own. */
  function renderOne(source: string, scope: object, where: string | (() => string)): string {
    budget = new RenderBudget(opts.budgetMs, opts.maxBodyChars);
    tenant = undefined;
    return renderString(source, scope, where);
  }

  return { renderRequest, renderString: renderOne, ready: gate.ready };
}

export type Renderer = ReturnType<typeof createRenderer>;

const OVER_TIME = 'rendering took longer than the budget';
const overTime = (err: unknown) => err instanceof InvokeError && err.message.includes(OVER_TIME);

/**
 * liquidjs messages quote the template source (never values); unknown secrets and budgets get
 * their own words. A RangeError (string too long, stack overflow from nesting) is a budget too.
 */
function templateError(
  err: unknown,
  where: string,
  budgetMs: number,
  tenantId: string | undefined,
): InvokeError {
  const message =
    err instanceof Error
      ? err.message.split('\n')[0]!.replace(/, line:\d+, col:\d+/, '')
      : 'render failed';
  if (err instanceof OutputLimit || /output is over \d+ characters/.test(message)) {
    return new InvokeError(
      'TEMPLATE_ERROR',
      `${where}: rendered ${message.replace(/^.*output/, 'output')}`,
    );
  }
  if (message.includes('template render limit exceeded')) {
    return new InvokeError(
      'TEMPLATE_ERROR',
      `${where}: ${OVER_TIME} of ${budgetMs} ms (INVOKE_TEMPLATE_BUDGET_MS); simplify the template`,
    );
  }
  if (
    message.includes('memory alloc limit exceeded') ||
    err instanceof RangeError ||
    /Invalid string length|call stack/i.test(message)
  ) {
    return new InvokeError(
      'TEMPLATE_ERROR',
      `${where}: template needs more than the memory budget (${TEMPLATE_MEMORY_LIMIT} characters or list items); simplify the template`,
    );
  }
  if (message.includes('parse length limit exceeded')) {
    return new InvokeError(
      'TEMPLATE_ERROR',
      `${where}: template is longer than ${TEMPLATE_PARSE_LIMIT} characters`,
    );
  }
  const secret = /undefined variable: secrets\.([A-Za-z0-9_]+)/.exec(message);
  if (secret)
    return new InvokeError(
      'TEMPLATE_ERROR',
      `${where}: unknown secret ${secret[1]} (${unknownSecretHint(secret[1]!, tenantId)})`,
    );
  return new InvokeError('TEMPLATE_ERROR', `${where}: ${message}`);
}
