/**
 * Numbers and rules the docs state, tied to the code that decides them: the default attempts
 * (client and HTTP API), the routes open without the token, and the loopback hosts allowed
 * without one. Changing either side without the other fails here.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { defaultJobOptions } from '../../src/client/create-invoke-client.js';
import { PUBLIC_PATHS } from '../../src/api/auth.js';
import { LOOPBACK } from '../../src/api/server.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8').replace(/\s+/g, ' ');
const docs = [
  'README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe('docs agree with the code', () => {
  it('every statement of the default attempts says what defaultJobOptions() sets', () => {
    const attempts = defaultJobOptions().attempts;
    const stated = docs.flatMap((doc) =>
      [
        ...read(doc).matchAll(
          /default(?:s| is| to)* (\d+) attempts|Default job options\*\*: `attempts: (\d+)`/g,
        ),
      ].map((m) => `${doc}: ${m[1] ?? m[2]}`),
    );
    expect(stated.length).toBeGreaterThanOrEqual(3); // README, errors.md, producers.md
    expect(stated.filter((s) => !s.endsWith(`: ${attempts}`))).toEqual([]);
  });

  it('operations.md names the routes open without the token and the loopback hosts allowed without one', () => {
    const ops = read('docs/operations.md');
    for (const path of PUBLIC_PATHS) expect(ops).toContain(`\`${path}\``);
    const hosts = /binds a loopback address \(`INVOKE_API_HOST` ([^;)]+)/
      .exec(ops)?.[1]
      ?.split(/, | or /);
    expect(new Set(hosts)).toEqual(LOOPBACK);
    expect(ops).toContain('every route, `/ui` included, is open to local callers');
    expect(read('docs/producers.md')).toContain('With `INVOKE_API_TOKEN` set, every route needs');
  });
});
