/**
 * got's createNativeRequestOptions with and without src/patches/got-native-request-options.ts,
 * in a fresh process per variant (docs/patches.md):  npx tsx scripts/patches/got-options.ts on|off
 */
import http from 'node:http';
import { Options } from 'got';
import { installFastNativeRequestOptions } from '../../src/patches/got-native-request-options.js';
const patched = process.argv[2] === 'on';
if (patched) installFastNativeRequestOptions();
const agents = { http: new http.Agent({ keepAlive: true }) };
const defaults = new Options({
  agent: agents,
  http2: false,
  retry: { limit: 0 },
  followRedirect: false,
  throwHttpErrors: false,
});
const make = () =>
  new Options(
    new URL('http://127.0.0.1:1234/x?a=1'),
    { method: 'POST', headers: { 'x-a': 'b' }, body: '{}' },
    defaults,
  );
const opts = Array.from({ length: 2000 }, make);
const out: string[] = [];
for (let r = 0; r < 6; r++) {
  const t = process.hrtime.bigint();
  const n = 20000;
  for (let i = 0; i < n; i++) opts[i % opts.length]!.createNativeRequestOptions();
  out.push((Number(process.hrtime.bigint() - t) / n / 1000).toFixed(2));
}
console.log(patched ? 'patched' : 'got own', out.join(' '), 'us/call');
