/**
 * The loopback partner API, in its own process so its CPU is not billed to the worker under
 * test. Replies 200 with a small JSON body after BENCH_LATENCY_MS (0 = at once), reading the
 * whole request body first like a real server. Prints its port to the parent over IPC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const latencyMs = Number(process.argv[2] ?? 0);
const reply = JSON.stringify({ points: 42, tier: { name: 'gold' } });

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const send = () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(reply),
      });
      res.end(reply);
    };
    if (latencyMs > 0) setTimeout(send, latencyMs);
    else send();
  });
});
// Keep-alive sockets stay open between bench phases; a worker at concurrency 1,000 opens 1,000.
server.keepAliveTimeout = 60_000;
server.maxRequestsPerSocket = 0;
server.listen(0, '127.0.0.1', () =>
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port }),
);
process.on('disconnect', () => process.exit(0));
