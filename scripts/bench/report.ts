/** The table (terminal and markdown), the machine description, and docs/benchmarks.md. */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type { Result, Scenario } from './measure.js';

export interface Row {
  scenario: Scenario;
  results: Result[];
}

const f = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);

export function machine(redisUrl: string): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  let redis = 'unknown';
  try {
    redis = execSync('redis-server --version', { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? redis;
  } catch {
    /* not installed: REDIS_URL was given */
  }
  return `${os.availableParallelism()} CPUs (nproc), ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; redis-server ${redis}${redisUrl ? '' : ''}`;
}

const HEAD = [
  'scenario',
  'worker',
  'jobs/s',
  'vs naive',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'CPU s/1k jobs',
  'peak RSS MB',
  'Redis B/job',
];

export function cells(rows: Row[]): string[][] {
  const out: string[][] = [];
  for (const { scenario, results } of rows) {
    const naive = results.find((r) => r.worker === 'naive');
    for (const r of results) {
      out.push([
        scenario.title + (r.rate ? ` (${Math.round(r.rate)}/s)` : ''),
        r.worker,
        f(r.jobsPerSec),
        naive && r.worker !== 'naive' ? `${(r.jobsPerSec / naive.jobsPerSec).toFixed(2)}x` : '',
        f(r.latency?.p50),
        f(r.latency?.p95),
        f(r.latency?.p99),
        f(r.cpuSecPer1k, 3),
        f(r.peakRssMb),
        f(r.memBytesPerJob),
      ]);
    }
  }
  return out;
}

export function textTable(rows: Row[]): string {
  const all = [HEAD, ...cells(rows)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all
    .map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

export function markdownTable(rows: Row[]): string {
  return [
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...cells(rows).map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** Rewrites only our section of docs/benchmarks.md; other sections are other engineers'. */
export function writeDocs(file: string, section: string): void {
  const block = `${START}\n${section.trim()}\n${END}`;
  mkdirSync(path.dirname(file), { recursive: true });
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const s = old.indexOf(START);
  const e = old.indexOf(END);
  const next =
    s >= 0 && e > s
      ? old.slice(0, s) + block + old.slice(e + END.length)
      : `${old.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
