# syntax=docker/dockerfile:1
# invoke-api-worker: build with dev dependencies, run with production dependencies only.
#
#   docker build -t invoke-api-worker .
#   docker run --rm -e REDIS_URL=redis://redis:6379 -e INVOKE_API_TOKEN=... -p 8080:8080 invoke-api-worker
#
# PID 1: the image runs `node dist/main.js` directly (no npm, no shell), so SIGTERM from
# `docker stop` / Kubernetes reaches the process. Node as PID 1 gets no default signal
# handlers, but src/main.ts installs its own for SIGTERM and SIGINT (stop taking jobs, drain
# in-flight calls up to INVOKE_SHUTDOWN_TIMEOUT_MS, exit 0; a second signal exits at once), and
# the process spawns no children, so there are no zombies to reap: no tini needed. `docker run
# --init` remains harmless if your platform adds it.

ARG NODE_VERSION=20.20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# In a container the server must listen beyond loopback to be reachable; the worker then
# refuses to start without INVOKE_API_TOKEN (exit 2, naming the variable).
ENV INVOKE_API_HOST=0.0.0.0 \
    PORT=8080
EXPOSE 8080
USER node
# Liveness only (/healthz); readiness (/readyz: Redis reachable, worker running) is for the
# orchestrator. The image has no curl: use node's built-in fetch.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# --max-semi-space-size as in `npm start` (docs/deployment.md: a larger young generation lets a
# call's objects die young instead of being promoted while its request is in flight).
CMD ["node", "--max-semi-space-size=32", "dist/main.js"]
