# syntax=docker/dockerfile:1
# Build stage: the same commands CI runs (npm ci, npm run build).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs ./scripts/bundle.mjs
COPY src ./src
RUN npm run build

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
# The sidecar runs with V8's young generation capped at 1 MiB: its RSS then stays flat over
# thousands of rotations instead of growing with V8's heap sizing, at the same CPU
# (bench/RESULTS.md, "Memory"). A wrapper rather than NODE_OPTIONS, which the child would
# inherit; exec keeps node as the process that receives signals.
RUN printf '#!/bin/sh\nexec node --max-semi-space-size=1 /app/dist/bin/spiffe-sidecar.js "$@"\n' > /usr/local/bin/spiffe-sidecar \
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
