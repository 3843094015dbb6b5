/**
 * Patch of got 14.6.6's `Options.prototype.createNativeRequestOptions`, around a V8 slow path
 * it hits once per request.
 *
 * got builds the options for `http.request` as one object literal that starts with
 * `...internals.cacheOptions` (four keys, always present) and then lists about 30 properties.
 * On Node 20's V8, every property added after a non-empty spread in a literal makes a fresh
 * hidden class instead of following a cached transition: CPU and garbage on every request
 * (measured in docs/patches.md).
 *
 * The fix keeps got's own code: the two spread sources are swapped for nothing while got's
 * method runs (the literal then takes the fast path), and the result is merged after them
 * (in the literal, its own properties win over the spread ones), leaving out the keys whose
 * value is undefined, which Node would otherwise copy twice more per request (definedOnly).
 * test/patches/got-native-request-options.test.ts compares the result with got's own.
 *
 * It changes a prototype shared by every got user in the process, so it is applied only to the
 * got version it was written for, and only once.
 */
import { Options } from 'got';
import { skipPatch, versionMatches, type Warn } from './version-gate.js';

export const PATCH_NAME = 'got-native-request-options';
/** The got version whose createNativeRequestOptions this patch was written and tested against. */
export const WRITTEN_FOR = '14.6.6';

type NativeOptions = Record<string, unknown>;
interface OptionsInternals {
  _internals: { cacheOptions: Record<string, unknown> };
  _unixOptions: Record<string, unknown> | undefined;
}

const patched = Symbol('invoke-api-worker.fastNativeOptions');
type Proto = { createNativeRequestOptions(this: Options): NativeOptions; [patched]?: true };
const proto = Options.prototype as unknown as Proto;
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
 * win), without the keys whose value is undefined (most of them on a plain HTTP call). Node
 * copies the object it is handed twice more per request, each time as a spread into a
 * null-prototype literal (ClientRequest, then Agent#addRequest), where every key costs. An
 * absent key reads as undefined everywhere Node looks (`options.x`); and where Node spreads its
 * own defaults first (tls.connect), an absent key keeps the default that an explicit undefined
 * would have overwritten.
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

/** Installs the patch once per process; false (and one warning) when it does not apply. */
export function installFastNativeRequestOptions(
  warn: Warn = (m) => process.emitWarning(m),
): boolean {
  if (proto[patched]) return true;
  if (!versionMatches(PATCH_NAME, 'got', WRITTEN_FOR, warn)) return false;
  if (typeof gotCreateNativeRequestOptions !== 'function')
    return skipPatch(PATCH_NAME, 'got Options internals changed', warn);
  proto.createNativeRequestOptions = fastCreateNativeRequestOptions;
  proto[patched] = true;
  return true;
}
