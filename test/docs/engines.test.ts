/**
 * `npm ci` on the Node versions package.json accepts prints no EBADENGINE: every installed
 * package's engines.node range (as recorded in package-lock.json) admits the oldest Node of
 * each major line we support (vite, under vitest, and its wasm runtime set the floor: 20.19 and 22.13). cookie 2.x
 * (via fastify's light-my-request) needs Node 22: the override in package.json pins cookie 1.1
 * there, which has the same API.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import semver from 'semver';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[] }>;
};

/** The oldest x.y.0 of each major line that our engines range admits. */
const minors = (major: number) => Array.from({ length: 40 }, (_, minor) => `${major}.${minor}.0`);
const oldestSupported = [20, 22, 24].flatMap(
  (major) => semver.minSatisfying(minors(major), pkg.engines.node) ?? [],
);

describe('engines', () => {
  it('our range admits the Node versions the README names', () => {
    expect(oldestSupported).toEqual(['20.19.0', '22.13.0', '24.0.0']);
    expect(readFileSync(new URL('README.md', root), 'utf8')).toContain(
      'Needs Node 20 (>= 20.19) or 22 (>= 22.13)',
    );
  });

  it.each(oldestSupported)('every locked package accepts Node %s', (node) => {
    const refused = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, p]) => {
        const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
        return range && !semver.satisfies(node, range)
          ? [`${path.replace(/^.*node_modules\//, '')}: node ${range}`]
          : [];
      });
    expect(refused).toEqual([]);
  });
});
