/**
 * The layering rules of src/ (docs/architecture.md), read from the import statements:
 *  - only the composition root (src/app.ts, src/main.ts) and worker/ itself import worker/;
 *    shared vocabulary lives in contract/, queue/ and lib/;
 *  - no import cycles;
 *  - Redis connections come from src/redis.ts only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

/**
 * Imports of worker/ still to be removed (issue 19). Each must still exist: delete its line
 * when it goes, so the list only shrinks.
 */
const PENDING: readonly string[] = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports (static, re-exports, dynamic) of one file, as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) =>
    path.relative(SRC, path.resolve(path.dirname(file), s)).replace(/\.js$/, '.ts'),
  );
}

const graph = new Map(sourceFiles(SRC).map((f) => [path.relative(SRC, f), importsOf(f)]));
const inWorker = (p: string) => p.startsWith('worker/');
const compositionRoot = new Set(['app.ts', 'main.ts']);

describe('import rules of src/', () => {
  it('reads every relative import it finds as a file under src/', () => {
    const missing = [...graph].flatMap(([from, to]) =>
      to.filter((t) => !graph.has(t)).map((t) => `${from} -> ${t}`),
    );
    expect(missing).toEqual([]);
    expect(graph.get('app.ts')).toContain('worker/processor.ts');
  });

  it('only app.ts, main.ts and worker/ import worker/ (and the pending list is still true)', () => {
    const offending = [...graph]
      .filter(([from]) => !compositionRoot.has(from) && !inWorker(from))
      .flatMap(([from, to]) => to.filter(inWorker).map((t) => `${from} -> ${t}`))
      .sort();
    expect(offending).toEqual([...PENDING].sort());
  });

  it('opens Redis connections only in redis.ts (and the client library, given its own)', () => {
    // One factory, so every connection follows a Sentinel switch and takes REDIS_URL's auth.
    const allowed = new Set(['redis.ts', 'redis-sentinel.ts', 'client/create-invoke-client.ts']);
    const opening = sourceFiles(SRC)
      .map((f) => path.relative(SRC, f))
      .filter(
        (f) =>
          !allowed.has(f) && /new (Redis|Cluster)\(/.test(readFileSync(path.join(SRC, f), 'utf8')),
      );
    expect(opening).toEqual([]);
  });

  it('has no import cycles', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
