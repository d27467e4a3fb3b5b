# syntax=docker/dockerfile:1
# Build stage: the same commands CI runs (npm ci, npm run build).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs scripts/build-sea.mjs scripts/build-sea-train.mjs ./scripts/
COPY src ./src
RUN npm run build
# The sidecar as a single executable (README "Start-up time"): a one-shot (an init container)
# starts in about half the CPU of `node dist/bin/spiffe-sidecar.js`. No Node flags: the daemon
# caps V8's young generation itself (src/sidecar/heap-tuning.ts), so RSS stays flat over
# thousands of rotations without a NODE_OPTIONS that the app would inherit.
RUN node scripts/build-sea.mjs

# Runtime stage: production dependencies and the compiled output only.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
# tini runs as PID 1 and reaps every orphan: Node waits only for the processes it started, so
# as PID 1 the sidecar would leave the app's orphaned grandchildren as zombies (issue 13, item
# 3). tini passes signals on to the sidecar, which stops the app's whole process group.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
# `spiffe-sidecar demo` runs this as its app, found relative to dist/bin.
COPY examples/demo/reload-printer.mjs ./examples/demo/reload-printer.mjs
# spiffe-sidecar is the single executable; only `demo`, which is not in it (it runs a Node app
# from the package), goes to the npm build. exec keeps the sidecar as the process that
# receives signals.
RUN printf '#!/bin/sh\nif [ "$1" = demo ]; then exec node /app/dist/bin/spiffe-sidecar.js "$@"; fi\nexec /app/dist/sea/spiffe-sidecar "$@"\n' > /usr/local/bin/spiffe-sidecar \
 && chmod 755 /usr/local/bin/spiffe-sidecar \
 && ln -s /app/dist/bin/spiffe-fake-agent.js /usr/local/bin/spiffe-fake-agent \
 && chmod +x /app/dist/bin/spiffe-*.js
# The usual mount points for the agent socket and the output files, owned by the unprivileged
# user so that a fresh named volume mounted there (docker compose) is writable by it too.
RUN install -d -o node -g node /run/spire/agent/public /run/identity
# The node image's unprivileged user (uid 1000); the files it writes belong to it unless
# file_owner/file_group say otherwise. Its home is writable, so `demo` and relative paths work.
USER node
WORKDIR /home/node
ENTRYPOINT ["tini", "--", "spiffe-sidecar"]
CMD ["--help"]
