/** save.pick (contract section 1): paths into { status, headers, body }; a missing path saves null. */
import { ownPath } from './own-path.js';

export function applyPick(
  pick: Record<string, string> | undefined,
  whole: { status: number | null; headers: Record<string, string>; body: unknown },
): unknown {
  if (!pick) return whole.body;
  const out: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(pick)) {
    out[name] = ownPath(whole, path.split('.')) ?? null;
  }
  return out;
}
