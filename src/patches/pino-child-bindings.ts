/**
 * Patch of pino 10.4.0's child loggers: run every child's bindings through the root's own
 * formatter, as `formatters.log` runs every line's object.
 *
 * pino has no hook for this: `formatters.bindings` is run on the root's base only, and each
 * child resets it (pinojs/pino#1212, #1700; #2129 asks for it). pino's redaction does reach
 * child bindings, but only for the paths it is given, and a path starting with `*` makes every
 * line of every logger pay for it (docs/patches.md). logger.ts therefore applies its `*.` paths
 * itself, and this patch extends that to child bindings: children are made with
 * Object.create(parent), so a `child` set on the root is what every descendant calls.
 *
 * Applied only to the pino version it was written for; with any other, logger.ts hands pino
 * every path instead (correct, slower) and warns once. test/patches/ fails when pino changes
 * what this relies on, or starts running the root's bindings formatter for children itself.
 */
import type { Bindings, Logger } from 'pino';
import { versionMatches, type Warn } from './version-gate.js';

export const PATCH_NAME = 'pino-child-bindings';
/** The pino version whose child() this patch was written and tested against. */
export const WRITTEN_FOR = '10.4.0';

/** Whether the installed pino is the one the patch was written for (one warning if not). */
export const childBindingsPatchApplies = (warn: Warn) =>
  versionMatches(PATCH_NAME, 'pino', WRITTEN_FOR, warn);

type ChildFn = (this: Logger, bindings: Bindings, options?: unknown) => Logger;

/** Every child of `root`, and theirs, gets its bindings through `format` first. */
export function formatChildBindings(root: Logger, format: (b: Bindings) => Bindings): void {
  const child = root.child as unknown as ChildFn;
  const formatting: ChildFn = function (bindings, options) {
    return child.call(this, format(bindings), options);
  };
  root.child = formatting as unknown as Logger['child'];
}
