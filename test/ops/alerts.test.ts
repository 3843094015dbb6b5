/**
 * The Grafana dashboard and the Prometheus alert rules in ops/: every metric they query is one
 * the service exports (names read from the registries' sources), the rules pass
 * `promtool check rules` and their unit tests (`promtool test rules`), and the compose
 * observability profile mounts the same files. promtool comes from Debian's `prometheus`
 * package; where it is missing those two checks are skipped with a message.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (f: string) => readFileSync(join(root, f), 'utf8');

function promtool(): string | undefined {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return 'promtool';
  } catch {
    return undefined;
  }
}
const tool = promtool();
if (!tool)
  console.warn(
    '[alerts.test] promtool not found (Debian package "prometheus"): skipping promtool check/test rules',
  );

/** Every metric family name the service can export: created by name in src/ (prom-client). */
function exportedNames(): Set<string> {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? files(join(dir, e.name))
        : e.name.endsWith('.ts')
          ? [join(dir, e.name)]
          : [],
    );
  const names = new Set(
    createMetrics({}, { defaultMetrics: false })
      .registry.getMetricsAsArray()
      .map((m) => m.name),
  );
  for (const f of files(join(root, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:name: |gauge\(\s*)'(invoke_[a-z_]+)'/g))
      names.add(m[1]!);
  }
  return names;
}

/** Metric names used in PromQL text: invoke_* identifiers, histogram suffixes folded. */
function queried(promql: string[]): Set<string> {
  const out = new Set<string>();
  for (const q of promql)
    for (const m of q.matchAll(/\b(invoke_[a-z_]+)/g))
      out.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
  return out;
}

const dashboard = JSON.parse(read('ops/grafana/invoke-api.json')) as {
  panels: { title: string; targets: { expr: string }[] }[];
};
const rules = parse(read('ops/prometheus/alerts.yml')) as {
  groups: { rules: { alert: string; expr: string }[] }[];
};
const alerts = rules.groups.flatMap((g) => g.rules);

describe('ops/grafana and ops/prometheus', () => {
  it('query only metrics the service exports', () => {
    const exported = exportedNames();
    expect(exported.has('invoke_calls_total')).toBe(true);
    const used = queried([
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...alerts.map((a) => a.expr),
    ]);
    expect(used.size).toBeGreaterThan(8);
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });

  it('the dashboard covers throughput, latency, codes, breakers, queue depth and age, tenants', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const m of [
      'invoke_calls_total',
      'invoke_call_duration_seconds_bucket',
      'invoke_destination_breaker_state',
      'invoke_queue_jobs',
      'invoke_queue_oldest_waiting_seconds',
      'invoke_fair_waiting_jobs',
    ])
      expect(exprs).toContain(m);
    expect(exprs).toMatch(/histogram_quantile\(0\.99/);
  });

  it('has the alerts the runbook documents', () => {
    const names = alerts.map((a) => a.alert);
    expect(names).toEqual([
      'InvokePartnerFailing',
      'InvokeJobsExhausted',
      'InvokeBreakerOpen',
      'InvokeQueueBacklog',
      'InvokeHeldJobsGrowing',
      'InvokeWorkerDown',
    ]);
    const runbook = read('docs/operations.md');
    for (const n of names) expect(runbook).toContain(`### ${n}`);
  });

  it('the compose observability profile mounts these files', () => {
    const compose = parse(read('docker-compose.yml')) as {
      services: Record<string, { profiles?: string[]; volumes?: string[] }>;
    };
    expect(compose.services.prometheus?.profiles).toEqual(['observability']);
    expect(compose.services.prometheus?.volumes).toContain(
      './ops/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
    );
    expect(compose.services.grafana?.volumes).toContain(
      './ops/grafana/invoke-api.json:/var/lib/grafana/dashboards/invoke-api.json:ro',
    );
  });

  it.skipIf(!tool)('promtool check rules passes', () => {
    const out = execFileSync(tool!, ['check', 'rules', 'ops/prometheus/alerts.yml'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out).toMatch(/SUCCESS: 6 rules found/);
  });

  it.skipIf(!tool)('promtool test rules: each alert fires when it should and not before', () => {
    const out = execFileSync(tool!, ['test', 'rules', 'alerts.test.yml'], {
      cwd: join(root, 'ops/prometheus'),
      encoding: 'utf8',
    });
    expect(out).toMatch(/SUCCESS/);
  });
});
