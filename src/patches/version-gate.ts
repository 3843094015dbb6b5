/**
 * A patch of a dependency's internals is applied only to the exact version it was written for
 * (package.json pins those packages without a range): another version may have moved the
 * internals it relies on, so it runs unpatched, and the process says so once.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The version of `pkg` this module's imports resolve to; undefined if it cannot be read. */
export function installedVersion(pkg: string): string | undefined {
  try {
    let dir = path.dirname(require.resolve(pkg));
    for (;;) {
      const version = versionIn(dir, pkg);
      if (version !== undefined) return version;
      const parent = path.dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
  } catch {
    return undefined;
  }
}

function versionIn(dir: string, pkg: string): string | undefined {
  try {
    const json = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
    };
    return json.name === pkg ? json.version : undefined;
  } catch {
    return undefined;
  }
}

export type Warn = (message: string) => void;

/** Reports a patch that was not applied, once per patch and process. */
const warned = new Set<string>();

export function skipPatch(name: string, why: string, warn: Warn): false {
  if (!warned.has(name)) {
    warned.add(name);
    warn(`${name} not applied: ${why}; running unpatched (docs/patches.md)`);
  }
  return false;
}

/** True when the installed `pkg` is `version`; otherwise warns (once) and returns false. */
export function versionMatches(name: string, pkg: string, version: string, warn: Warn): boolean {
  const found = installedVersion(pkg);
  if (found === version) return true;
  return skipPatch(name, `written for ${pkg} ${version}, found ${found ?? 'none'}`, warn);
}
