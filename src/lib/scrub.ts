/**
 * The scrubber: removes every known secret value, in its common spellings, from text and JSON
 * values that leave the process (stored envelopes and errors, job logs, events, log lines, API
 * and CLI output). Spellings: as is in any letter case (so lower- and upper-cased copies too),
 * percent-encoded (either hex case, %20 or +), JSON-string-escaped, and base64 / base64url at
 * each of the three byte alignments (so the value inside a longer encoded blob, such as
 * `Basic base64(user:secret)`, is found too).
 *
 * Values are added at start (configured secrets) or later (tenant secrets as they are loaded:
 * `add`). The patterns are rebuilt on the next scrub after an add, not per call.
 */
export const REDACTED = '[REDACTED]';

/** Base64 fragments shorter than this are not matched (too likely to occur by chance). */
const MIN_B64_FRAGMENT = 6;

export interface Scrubber {
  /** Text with every spelling of every known value replaced by [REDACTED]. */
  (text: string): string;
  /** Adds values (empty ones are ignored). */
  add(...values: string[]): void;
  /** A copy of a JSON-like value with every string (keys too) scrubbed; the same value when clean. */
  deep<T>(value: T): T;
  /** True when no value and no rewrite is known (scrubbing is then the identity). */
  readonly empty: boolean;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Spellings matched without regard to letter case. */
function textSpellings(value: string): string[] {
  return [
    value,
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1),
    // JSON with every non-ASCII character escaped (\u00e9), as some serialisers write it.
    JSON.stringify(value)
      .slice(1, -1)
      .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  ];
}

/** base64 and base64url of the value at byte offsets 0, 1 and 2 of a longer encoding (case matters). */
function base64Spellings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    // Characters carrying only the value's bits: from the first one after the k padding bytes
    // to the last one entirely within the value.
    const from = Math.ceil((8 * k) / 6);
    const to = Math.floor((8 * (k + bytes.length)) / 6);
    const fragment = b64.slice(from, to);
    if (fragment.length < MIN_B64_FRAGMENT) continue;
    out.push(fragment, fragment.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

function pattern(spellings: Set<string>, flags: string): RegExp | undefined {
  if (spellings.size === 0) return undefined;
  return new RegExp(
    [...spellings]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    flags,
  );
}

/**
 * `extra`: further rewrites applied after the values (patterns such as callback tokens); each
 * should check cheaply whether it has anything to do.
 */
// defineProperty: a "__proto__" key (JSON.parse makes it an own key) stays a key.
function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function createScrubber(
  values: Iterable<string> = [],
  extra: ((text: string) => string)[] = [],
): Scrubber {
  const anyCase = new Set<string>();
  const exact = new Set<string>();
  let patterns: [RegExp | undefined, RegExp | undefined] | undefined;

  function compiled() {
    patterns ??= [pattern(anyCase, 'gi'), pattern(exact, 'g')];
    return patterns;
  }

  const scrub = ((text: string): string => {
    if (typeof text !== 'string') return text;
    let out = text;
    if (anyCase.size > 0) {
      const [ci, cs] = compiled();
      if (ci) out = out.replace(ci, REDACTED);
      if (cs) out = out.replace(cs, REDACTED);
    }
    for (const rewrite of extra) out = rewrite(out);
    return out;
  }) as Scrubber;

  scrub.add = (...more: string[]) => {
    for (const v of more) {
      if (typeof v !== 'string' || v.length === 0) continue;
      for (const s of textSpellings(v)) if (s.length > 0) anyCase.add(s);
      for (const s of base64Spellings(v)) exact.add(s);
      patterns = undefined;
    }
  };

  function deep(value: unknown): unknown {
    if (typeof value === 'string') return scrub(value);
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const r = deep(value[i]);
        if (r !== value[i]) (out ??= value.slice())[i] = r;
      }
      return out ?? value;
    }
    // Copies an object only when a key or value changed (most bodies hold no secret at all).
    const entries = Object.entries(value as Record<string, unknown>);
    let out: Record<string, unknown> | undefined;
    for (let i = 0; i < entries.length; i++) {
      const [k, v] = entries[i]!;
      const key = scrub(k);
      const r = deep(v);
      if (!out && (key !== k || r !== v)) {
        out = {};
        for (let j = 0; j < i; j++) define(out, entries[j]![0], entries[j]![1]);
      }
      if (out) define(out, key, r);
    }
    return out ?? value;
  }
  const isEmpty = () => anyCase.size === 0 && extra.length === 0;
  scrub.deep = <T>(value: T): T => (isEmpty() ? value : (deep(value) as T));
  Object.defineProperty(scrub, 'empty', { get: isEmpty });

  scrub.add(...values);
  return scrub;
}
