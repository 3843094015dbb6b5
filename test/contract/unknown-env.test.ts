/** Misspelled INVOKE_* variables are named with the nearest known setting (startup/unknown-env.ts). */
import { describe, expect, it } from 'vitest';
import {
  checkUnknownVariables,
  describeUnknown,
  unknownVariables,
} from '../../src/startup/unknown-env.js';
import { ConfigError } from '../../src/config.js';

describe('unknown INVOKE_* variables', () => {
  it('suggests the nearest known name for a typo', () => {
    const found = unknownVariables({ INVOKE_CONCURENCY: '5', INVOKE_QUEU: 'x' });
    expect(found).toEqual([
      { name: 'INVOKE_CONCURENCY', suggestion: 'INVOKE_CONCURRENCY' },
      { name: 'INVOKE_QUEU', suggestion: 'INVOKE_QUEUE' },
    ]);
    expect(describeUnknown(found[0]!)).toBe(
      'INVOKE_CONCURENCY is not a known setting and is ignored: did you mean INVOKE_CONCURRENCY?',
    );
  });

  it('gives no suggestion when nothing is close, and points at the settings page', () => {
    const [v] = unknownVariables({ INVOKE_SOMETHING_ELSE_ENTIRELY: '1' });
    expect(v!.suggestion).toBeUndefined();
    expect(describeUnknown(v!)).toContain('docs/configuration.md');
  });

  it('accepts every known setting, the secret and credential families, and ignores other prefixes', () => {
    const env = {
      INVOKE_CONCURRENCY: '5',
      INVOKE_SECRET_CRM: 'x',
      INVOKE_SECRET_CRM_HOSTS: 'a',
      INVOKE_CREDENTIAL_CRM: '{}',
      PATH: '/bin',
      REDIS_URL: 'redis://x',
    };
    expect(unknownVariables(env)).toEqual([]);
    expect(unknownVariables({ INVOKE_SECRETS_KEYS: 'k' })[0]!.suggestion).toBe(
      'INVOKE_SECRETS_KEY',
    );
  });

  it('is an error under strict mode, a list otherwise', () => {
    expect(checkUnknownVariables({ INVOKE_CONCURENCY: '5' }, false)).toHaveLength(1);
    expect(() => checkUnknownVariables({ INVOKE_CONCURENCY: '5' }, true)).toThrow(ConfigError);
    expect(() => checkUnknownVariables({ INVOKE_CONCURENCY: '5' }, true)).toThrow(
      /did you mean INVOKE_CONCURRENCY\?.*INVOKE_STRICT_CONFIG=true/,
    );
  });
});
