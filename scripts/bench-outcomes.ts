/**
 * Cost of an outcome rule (docs/benchmarks.md, "Outcome rules and the response cache"), in one
 * process, each figure next to its baseline: classifying a 200 JSON response (fromResponse)
 * without `expect`, with a typical `expect.success`, and with `success` + `retry` on a response
 * that fails the rule. Median of ROUNDS rounds of N classifications each.
 * The cache's cost (a hit against a call) is measured end to end by `npm run bench --
 * --only=instant,cachehit,expect --workers=ours`.
 *
 * Run: npx tsx scripts/bench-outcomes.ts [n=200000]   (ROUNDS=5)
 */
import { performance } from 'node:perf_hooks';
import { fromResponse } from '../src/attempt/classify.js';
import { parseJob } from '../src/contract/invalid-job.js';
import type { HttpResult } from '../src/http/call.js';

const N = Number(process.argv[2] ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const limits = { retryAfterMaxMs: 300_000, maxErrorBodyBytes: 4096 };

const job = (extra: object) =>
  parseJob({
    v: 1,
    journeyId: 'j',
    runId: 'r',
    stepId: 's',
    customerId: 'c',
    request: { url: 'https://api.example/x' },
    save: { variable: 'v' },
    ...extra,
  });
const response = (body: unknown): HttpResult => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  retryAfter: undefined,
  body: Buffer.from(JSON.stringify(body)),
  truncated: false,
  overLimit: false,
  url: new URL('https://api.example/x'),
});

const cases = [
  {
    name: 'no expect (2xx = success)',
    job: job({}),
    res: response({ ok: true, points: 42, tier: { name: 'gold' } }),
  },
  {
    name: 'expect.success holds',
    job: job({
      expect: { success: "response.status == 200 and response.body.tier.name == 'gold'" },
    }),
    res: response({ ok: true, points: 42, tier: { name: 'gold' } }),
  },
  {
    name: 'success fails, retry evaluated',
    job: job({
      expect: { success: 'response.body.ok == true', retry: "response.body.error == 'busy'" },
    }),
    res: response({ ok: false, error: 'busy' }),
  },
];

function round(c: (typeof cases)[number]): number {
  const t = performance.now();
  for (let i = 0; i < N; i++) fromResponse(c.res, c.job, limits);
  return ((performance.now() - t) * 1000) / N;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = cases.map((c) => ({ name: c.name, runs: [] as number[] }));
// Interleaved rounds: each case once per round.
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, c] of cases.entries()) results[i]!.runs.push(round(c));
}
const base = median(results[0]!.runs);
for (const { name, runs } of results) {
  const m = median(runs);
  console.log(
    `${name.padEnd(34)} ${m.toFixed(2)} us/response  ${(m / base).toFixed(2)}x  (+${(m - base).toFixed(2)} us; rounds ${runs.map((x) => x.toFixed(2)).join('/')})`,
  );
}
