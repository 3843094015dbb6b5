/** docs/configuration.md is generated from src/config.ts `settings`: it must be the current output. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { settings } from '../../src/config.js';
import { CONFIG_DOC_PATH, renderConfigDocs } from '../../scripts/gen-config-docs.js';

describe('docs/configuration.md', () => {
  it('is in sync with settings (run `npm run gen:docs` after changing src/config.ts)', () => {
    expect(readFileSync(CONFIG_DOC_PATH, 'utf8')).toBe(renderConfigDocs());
  });

  it('has one row per setting with its default, plus the secret rows', () => {
    const doc = renderConfigDocs();
    for (const [name, s] of Object.entries(settings)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      if (s.default) expect(row).toContain(`\`${s.default}\``);
    }
    expect(doc).toContain('| `INVOKE_SECRET_<NAME>` |');
    expect(doc).toContain('| `INVOKE_SECRET_<NAME>_HOSTS` |');
  });
});
