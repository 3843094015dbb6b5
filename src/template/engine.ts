/**
 * The Liquid engine templates run in, locked down: step templates are written by people we do
 * not know (docs/security.md, Templates).
 *
 * - No file system: include, render and layout fail at parse time (before any value is read,
 *   so a secret cannot reach their "file not found" message), and the engine's fs refuses too.
 * - Budgets: template size (parseLimit), memory (liquidjs charges ranges, array and string
 *   filters against memoryLimit; capture is charged here too), time (renderLimit, checked by
 *   liquidjs before every template node and loop iteration) and output size (BoundedEmitter,
 *   checked on every write, not after).
 */
import {
  CaptureTag,
  Context,
  Drop,
  Liquid,
  toValueSync,
  type Template,
  type TagToken,
  type TopLevelToken,
} from 'liquidjs';

/**
 * Units liquidjs charges to memoryLimit (characters, array elements) per rendered field. A range
 * is allocated before the time budget is next checked, so this also bounds one such step (a
 * 300 000-element range takes ~10-40 ms).
 */
export const TEMPLATE_MEMORY_LIMIT = 300_000;
/** Longest template source (characters) parsed. */
export const TEMPLATE_PARSE_LIMIT = 256 * 1024;

/** The tags and filters a step may use are liquidjs's standard set minus these. */
export const REFUSED_TAGS = ['include', 'render', 'layout'] as const;

export class TemplateLimitError extends Error {
  override name = 'TemplateLimitError';
}

const refusingFs = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async () => refuse(),
  readFileSync: () => refuse(),
  resolve: () => refuse(),
  contains: async () => false,
  sep: '/',
};
function refuse(): never {
  throw new TemplateLimitError('templates cannot read files');
}

/** capture builds a string outside the emitter: charge it, or a loop inside it grows unbounded. */
class BoundedCapture extends CaptureTag {
  override *render(ctx: Context): Generator<unknown, void, unknown> {
    const html = (yield this.liquid.renderer.renderTemplates(this.templates, ctx)) as string;
    ctx.memoryLimit.use(html.length);
    ctx.bottom()[this.variable] = html;
  }
}

export function createEngine(extra: { outputEscape?: (v: unknown) => string } = {}): Liquid {
  const liquid = new Liquid({
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    cache: false,
    fs: refusingFs,
    root: [],
    partials: [],
    layouts: [],
    relativeReference: false,
    dynamicPartials: false,
    parseLimit: TEMPLATE_PARSE_LIMIT,
    memoryLimit: TEMPLATE_MEMORY_LIMIT,
    ...extra,
  });
  for (const name of REFUSED_TAGS) {
    liquid.registerTag(name, {
      parse(token: TagToken, _rest: TopLevelToken[]) {
        throw new TemplateLimitError(
          `the ${token.name} tag is not supported: templates cannot read files`,
        );
      },
      render() {},
    });
  }
  liquid.registerTag('capture', BoundedCapture);
  return liquid;
}

/** liquidjs's own stringify (not exported): what an output tag writes. */
function stringify(value: unknown): string {
  const v = value instanceof Drop && typeof value.valueOf === 'function' ? value.valueOf() : value;
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(stringify).join('');
  return String(v);
}

class BoundedEmitter {
  buffer = '';
  constructor(private readonly max: number) {}
  write(html: unknown): void {
    this.buffer += stringify(html);
    if (this.buffer.length > this.max)
      throw new TemplateLimitError(`output is over ${this.max} characters`);
  }
}

/** Renders within the time left (ms) and the output cap (characters). */
export function renderBounded(
  liquid: Liquid,
  tpl: Template[],
  scope: object,
  timeLeftMs: number,
  maxChars: number,
): string {
  if (timeLeftMs <= 0) throw new TemplateLimitError('template render limit exceeded');
  const ctx = new Context(scope, liquid.options, { renderLimit: timeLeftMs }, { liquid } as never);
  const emitter = new BoundedEmitter(maxChars);
  toValueSync(liquid.renderer.renderTemplates(tpl, ctx, emitter as never));
  return emitter.buffer;
}
