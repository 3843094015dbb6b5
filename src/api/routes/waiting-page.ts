/**
 * /ui/waiting: the dashboard's page of steps waiting for a partner's callback (bull-board shows
 * them as completed BullMQ jobs, which they are; their wait lives in callbacks/). A plain,
 * server-rendered table over ops/waiting.ts, behind the same token as /ui (Basic challenge),
 * linked from bull-board's menu. Every value is HTML-escaped: run and step ids are customer
 * data.
 */
import type { FastifyInstance } from 'fastify';
import type { WaitingOps } from '../../ops/waiting.js';

export const WAITING_PAGE = '/ui/waiting';
const LIMIT = 200;

const escapeHtml = (v: unknown) =>
  String(v ?? '-').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function waitingPageRoutes(waiting: Pick<WaitingOps, 'list'>) {
  return async (app: FastifyInstance) => {
    app.get(WAITING_PAGE, async (_req, reply) => {
      const list = await waiting.list(LIMIT);
      const cols = [
        'jobId',
        'state',
        'deadline',
        'journeyId',
        'runId',
        'stepId',
        'tenantId',
      ] as const;
      const rows = list.steps
        .map((s) => `<tr>${cols.map((c) => `<td>${escapeHtml(s[c])}</td>`).join('')}</tr>`)
        .join('\n');
      const html = `<!doctype html><html><head><meta charset="utf-8"><title>invoke-api: waiting for callbacks</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}</style></head>
<body><p><a href="/ui">&larr; dashboard</a></p><h1>Waiting for callbacks</h1>
<p>${list.waiting} waiting, ${list.held} held after CALLBACK_TIMEOUT (first ${LIMIT}, soonest deadline first). Act with <code>invoke-api waiting complete|retry|discard JOB</code>.</p>
<table><thead><tr>${cols.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .send(html);
    });
  };
}
