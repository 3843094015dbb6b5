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
 * with Object.assign (in the literal, its own properties win over the spread ones; ~1.3 us in
 * all). The result has the same keys and values as got's; test/http/got-native-options.test.ts
 * compares the two on plain, HTTPS, unix-socket and cache-option requests.
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
  // Same keys, order and precedence as got's literal: spread sources first, its own properties win.
  return Object.assign({}, cacheOptions, unixOptions, result);
}

/** Installs the workaround once per process (idempotent); a got without the method is left alone. */
export function installFastNativeRequestOptions(): void {
  if (typeof gotCreateNativeRequestOptions !== 'function' || proto[patched]) return;
  proto.createNativeRequestOptions = fastCreateNativeRequestOptions;
  proto[patched] = true;
}
