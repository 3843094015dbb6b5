/**
 * Works around a V8 slow path that got 14 hits once per request.
 *
 * got's `Options.createNativeRequestOptions()` builds the options for `http.request` as one
 * object literal that starts with `...internals.cacheOptions` (four keys, always present) and
 * then lists about 30 properties. On Node 20's V8, every property added after a non-empty
 * spread in a literal makes a fresh hidden class instead of following a cached transition:
 * 60-70 us of CPU and ~23 KiB of garbage per request (scripts/bench profiles; the same literal
 * with an empty spread takes 0.2 us). At 2,000 calls/s that was the largest single item of
 * our CPU after GC, and a good part of the GC.
 *
 * The fix keeps got's own code: the two spread sources are swapped for nothing while got's
 * method runs (the literal then takes the fast path), and the result is merged after them
 * (in the literal, its own properties win over the spread ones), leaving out the keys whose
 * value is undefined, which Node would otherwise copy twice more per request (definedOnly).
 * The result has got's defined keys and values; test/http/got-native-options.test.ts compares
 * the two on plain, HTTPS, unix-socket and cache-option requests.
 */
import { Options } from 'got';

type NativeOptions = Record<string, unknown>;
interface OptionsInternals { _internals: { cacheOptions: Record<string, unknown> }; _unixOptions: Record<string, unknown> | undefined }

const patched = Symbol('invoke-api-worker.fastNativeOptions');
const proto = Options.prototype as unknown as { createNativeRequestOptions(this: Options): NativeOptions; [patched]?: true };
const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** got's own method, kept for the equivalence test. */
export const gotCreateNativeRequestOptions = proto.createNativeRequestOptions;

function fastCreateNativeRequestOptions(this: Options): NativeOptions {
  const self = this as unknown as OptionsInternals;
  const internals = self._internals;
  const cacheOptions = internals.cacheOptions;
  const unixOptions = self._unixOptions;
  internals.cacheOptions = EMPTY as Record<string, unknown>;
  self._unixOptions = undefined;
  let result: NativeOptions;
  try {
    result = gotCreateNativeRequestOptions.call(this);
  } finally {
    internals.cacheOptions = cacheOptions;
    self._unixOptions = unixOptions;
  }
  return definedOnly(cacheOptions, unixOptions, result);
}

/**
 * got's sources merged with its literal's precedence (spread sources first, its own properties
 * win), without the keys whose value is undefined: about 25 of got's 35 for a plain HTTP call.
 * Node copies the object it is handed twice more per request, each time as a spread into a
 * null-prototype literal (ClientRequest, then Agent#addRequest), where every key costs: ~20 us
 * of the 35 us those copies took on this VM. An absent key reads as undefined everywhere Node
 * looks (`options.x`); and where Node spreads its own defaults first (tls.connect), an absent
 * key keeps the default that an explicit undefined would have overwritten.
 */
function definedOnly(...sources: (Record<string, unknown> | undefined)[]): NativeOptions {
  const out: NativeOptions = {};
  for (const source of sources) {
    if (source === undefined) continue;
    // Own keys only, as a spread copies (for...in would also take anything on Object.prototype).
    for (const key of Object.keys(source)) {
      const value = source[key];
      if (value !== undefined) out[key] = value;
      // A later source's undefined overrides an earlier value, as in got's literal.
      else if (key in out) out[key] = undefined;
    }
  }
  return out;
}

/** Installs the workaround once per process (idempotent); a got without the method is left alone. */
export function installFastNativeRequestOptions(): void {
  if (typeof gotCreateNativeRequestOptions !== 'function' || proto[patched]) return;
  proto.createNativeRequestOptions = fastCreateNativeRequestOptions;
  proto[patched] = true;
}
