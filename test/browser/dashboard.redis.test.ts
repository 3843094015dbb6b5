/**
 * The dashboard in a real headless Chromium (playwright-core, the Debian `chromium` package):
 * it loads behind the token (Basic auth), lists the queue, and a failed job's page shows its
 * attempts (the per-attempt records in the job log). Skipped with a message where Chromium is
 * not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { dashboardRoutes } from '../../src/api/routes/dashboard.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { readRecords } from '../../src/attempts/store.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(
    `[dashboard browser test] no Chromium at ${CHROMIUM} (Debian package "chromium"): skipped`,
  );

const TOKEN = 'browser-test-token-0123456789';
let h: Harness;
let up: Upstream;
let ops: Ops;
let server: FastifyInstance;
let browser: Browser;
let base: string;
let jobId: string;

describe.skipIf(!hasChromium)('dashboard in a real browser', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    up = await startUpstream((_r, res) => json(res, 503, { partner: 'down for maintenance' }));
    h = await startHarness();
    ops = createOps(h.cfg, h.redis);
    const cfg = loadConfig({ ...h.ns.env, INVOKE_API_TOKEN: TOKEN, LOG_LEVEL: 'silent' });
    server = await buildServer({
      cfg,
      logger: createLogger('silent', (s) => s),
      readiness: { checks: {} },
      plugins: [dashboardRoutes(ops.queue, h.redis)],
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    const data = jobData({ request: { url: `${up.url}/points` } });
    jobId = idempotencyKey(data);
    await h.queue.add('invoke', data, {
      jobId,
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
    });
    await waitForJob(h.queue, jobId, 'failed');
    await waitFor(
      async () =>
        (await readRecords(h.redis, `${h.queue.qualifiedName}:${jobId}`)).records.length === 2,
      'two attempt records',
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await ops?.close();
    await h?.close();
    await up?.close();
  });

  it('asks for the token, then shows the failed job with its attempts', async () => {
    // Without credentials headless Chromium aborts the navigation (ERR_INVALID_AUTH_CREDENTIALS): ask plainly.
    expect((await fetch(`${base}/ui`)).status).toBe(401);

    const ctx = await browser.newContext({ httpCredentials: { username: 'ops', password: TOKEN } });
    const page = await ctx.newPage();
    const res = await page.goto(`${base}/ui/queue/${h.cfg.INVOKE_QUEUE}?status=failed`);
    expect(res?.status()).toBe(200);
    await page.getByText(jobId, { exact: false }).first().waitFor({ timeout: 20_000 });
    // The job's Logs tab: one marked record per attempt, with the masked URL and the status.
    await page.goto(`${base}/ui/queue/${h.cfg.INVOKE_QUEUE}/${encodeURIComponent(jobId)}?tab=Logs`);
    await page.getByText('Logs', { exact: true }).first().click();
    const logs = page.getByText(/"kind":"attempt","n":2/);
    await logs.first().waitFor({ timeout: 20_000 });
    const text = await page.locator('body').innerText();
    expect(text).toContain('"status":503');
    expect(text).toContain(`${up.url}/points`);
    const shot = await page.screenshot({ fullPage: true });
    expect(shot.length).toBeGreaterThan(1000);
    await ctx.close();
  });
});
