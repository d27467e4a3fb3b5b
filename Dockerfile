# syntax=docker/dockerfile:1
# Build stage: the same commands CI runs (npm ci, npm run build).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled output only.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
RUN ln -s /app/dist/cli/spiffe-sidecar.js /usr/local/bin/spiffe-sidecar \
 && ln -s /app/dist/cli/spiffe-fake-agent.js /usr/local/bin/spiffe-fake-agent \
 && chmod +x /app/dist/cli/*.js
# The node image's unprivileged user; the files it writes belong to it unless owners are configured.
USER node
ENTRYPOINT ["spiffe-sidecar"]
CMD ["--help"]
