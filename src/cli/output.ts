/**
 * Terminal output for the CLI: JSON for scripts (--json), aligned tables for people, a progress
 * counter on stderr only when stderr is a terminal (never in pipes or CI logs).
 */
export const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
export const json = (value: unknown) => out(JSON.stringify(value, null, 2));

/** A plain aligned table; cells are stringified, columns sized to their widest cell. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) =>
    columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => p.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

/** 1234 -> "1.2s", 95000 -> "1m35s", 7200000 -> "2h0m". */
export function age(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/** "retry 1500/12000 [#####.....]" redrawn in place on a TTY stderr; silent otherwise. */
export function progress(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    process.stderr.write(
      `\r${label} ${done}/${total} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${done >= total ? '\n' : ''}`,
    );
  };
}
