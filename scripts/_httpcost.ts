import http from 'node:http';
import got from 'got';
import { loadConfig } from '../dist/config.js';
import { createHttpClient } from '../dist/http/call.js';
const reply = JSON.stringify({ points: 42, tier: { name: 'gold' } });
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) }); res.end(reply); }); });
server.keepAliveTimeout = 60000;
let conns = 0; server.on('connection', () => conns++);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as any).port;
const url = `http://127.0.0.1:${port}/loyalty/cus-1`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const body = JSON.stringify({ email: 'a@b.co', tags: ['vip'] });
const client = got.extend({ agent: { http: agent }, retry: { limit: 0 }, followRedirect: false, throwHttpErrors: false, http2: false });
const cfg = loadConfig({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32' } as any);
const ours = createHttpClient(cfg);
async function gotStream() {
  const s = client.stream(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'x' }, body });
  await new Promise<void>((resolve, reject) => { const c: Buffer[] = []; s.on('data', (d: Buffer) => c.push(d)); s.once('end', () => { JSON.parse(Buffer.concat(c).toString()); resolve(); }); s.once('error', reject); });
  s.destroy();
}
async function oursSend() {
  const r = await ours.send({ method: 'POST', url, headers: {}, body: { text: body, contentType: 'application/json' } } as any, { usedSecrets: [] });
  JSON.parse(r.body.toString());
}
const c2 = got.extend({ agent: { http: agent }, retry: { limit: 0 }, followRedirect: false, throwHttpErrors: false, http2: false, timeout: { lookup: 3000, connect: 3000, secureConnect: 3000 } });
async function gotTimeouts() {
  const s = c2.stream(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'x' }, body });
  await new Promise<void>((resolve, reject) => { const c: Buffer[] = []; s.on('data', (d: Buffer) => c.push(d)); s.once('end', () => { JSON.parse(Buffer.concat(c).toString()); resolve(); }); s.once('error', reject); });
  s.destroy();
}
async function gotSignal() {
  const ac = new AbortController(); const t = setTimeout(() => ac.abort(), 10000);
  const s = client.stream(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'x' }, body, signal: ac.signal });
  await new Promise<void>((resolve, reject) => { const c: Buffer[] = []; s.on('data', (d: Buffer) => c.push(d)); s.once('end', () => { JSON.parse(Buffer.concat(c).toString()); resolve(); }); s.once('error', reject); });
  s.destroy(); clearTimeout(t);
}
async function gotReqTimeout() {
  const s = client.stream(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'x' }, body, timeout: { request: 10000 } });
  await new Promise<void>((resolve, reject) => { const c: Buffer[] = []; s.on('data', (d: Buffer) => c.push(d)); s.once('end', () => { JSON.parse(Buffer.concat(c).toString()); resolve(); }); s.once('error', reject); });
  s.destroy();
}
async function run(name: string, fn: () => Promise<void>, n = 20000, conc = 50) {
  let i = 0; const c0 = process.cpuUsage(); const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => { while (i++ < n) await fn(); }));
  const cpu = process.cpuUsage(c0); const ms = performance.now() - t0;
  console.log(name.padEnd(12), 'conns', conns, (conns = 0, ''), `${(n / ms * 1000).toFixed(0)} req/s`, `${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU/req (incl server)`);
}
const which = process.argv[2];
for (let k = 0; k < (which ? 1 : 3); k++) for (const [n, f] of [['gotStream', gotStream], ['ours', oursSend], ['timeouts', gotTimeouts], ['signal', gotSignal], ['reqTimeout', gotReqTimeout]] as const) if (!which || which === n) await run(n, f, which ? 60000 : 20000);
server.close(); agent.destroy(); ours.close(); process.exit(0);
