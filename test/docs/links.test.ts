/** Docs point only at things that exist: relative links and the repository paths they name. */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const docs = readdirSync(join(root, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => join(root, 'docs', f));

describe('docs/*.md', () => {
  it.each(docs.map((d) => [d.slice(root.length), d]))(
    '%s: relative links and named repository paths exist',
    (_name, file) => {
      const text = readFileSync(file, 'utf8');
      const missing: string[] = [];
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (!/^[a-z]+:/.test(target!) && !existsSync(join(dirname(file), target!)))
          missing.push(target!);
      }
      for (const [path] of text.matchAll(
        /\b(?:src|test|scripts|examples|docs)\/[\w./-]*\w\.(?:ts|mts|mjs|md|json)\b/g,
      )) {
        if (!existsSync(join(root, path))) missing.push(path);
      }
      expect(missing).toEqual([]);
    },
  );
});
