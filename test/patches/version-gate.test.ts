/**
 * Each patch of a dependency's internals applies only to the exact version it was written for:
 * package.json pins that version (no range), the installed copy is that version, and any other
 * version leaves the dependency alone with one warning.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as gotPatch from '../../src/patches/got-native-request-options.js';
import { installedVersion, versionMatches } from '../../src/patches/version-gate.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  dependencies: Record<string, string>;
};

describe('dependency patches are tied to one version', () => {
  for (const [name, patch] of [['got', gotPatch]] as const) {
    it(`${name}: pinned exactly in package.json, installed, and the version ${patch.PATCH_NAME} was written for`, () => {
      expect(pkg.dependencies[name]).toBe(patch.WRITTEN_FOR);
      expect(installedVersion(name)).toBe(patch.WRITTEN_FOR);
    });
  }

  it('another version: not applied, one warning per patch and process', () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    expect(versionMatches('test-patch', 'got', '0.0.1', warn)).toBe(false);
    expect(versionMatches('test-patch', 'got', '0.0.1', warn)).toBe(false);
    expect(warnings).toEqual([
      `test-patch not applied: written for got 0.0.1, found ${gotPatch.WRITTEN_FOR}; running unpatched (docs/patches.md)`,
    ]);
  });

  it('a package that is not installed reads as no version', () => {
    expect(installedVersion('no-such-package-for-invoke-api-worker')).toBeUndefined();
  });
});
