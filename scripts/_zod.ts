import { invokeJobSchema } from '../src/contract/job.js';
import { makeJobs } from './bench/jobs.js';
const jobs = makeJobs(process.argv[2] as any ?? 'small', 'http://127.0.0.1:1', 1000).map((j) => JSON.parse(JSON.stringify(j.data)));
function bench(name: string, f: (d: unknown) => unknown) {
  for (let k = 0; k < 3; k++) { const t0 = performance.now(); for (let r = 0; r < 50; r++) for (const j of jobs) f(j); const us = (performance.now() - t0) * 1000 / 50000; if (k === 2) console.log(name, us.toFixed(2), 'µs'); }
}
bench('full', (d) => invokeJobSchema.safeParse(d));
bench('request', (d) => invokeJobSchema.shape.request.safeParse((d as any).request));
bench('save', (d) => invokeJobSchema.shape.save.safeParse((d as any).save));
bench('runId', (d) => invokeJobSchema.shape.runId.safeParse((d as any).runId));
bench('data', (d) => invokeJobSchema.shape.data.safeParse((d as any).data));
bench('json-parse', (d) => JSON.parse(JSON.stringify(d)));
