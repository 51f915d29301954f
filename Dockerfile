# syntax=docker/dockerfile:1
# The demo service of docker-compose.yml: builds retryscope and runs
# `retryscope demo` in a loop, exporting OTLP to the collector.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would fetch a second Node.js; the image has one.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/build.ts
COPY src ./src
RUN npm run build

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY stack/demo/peers-as-deps.mjs /tmp/
# openai, @opentelemetry/api and the CLI's libraries are peers (and devDependencies
# here), so they are made dependencies first; `npm install` then still takes every
# version from the lockfile.
RUN node /tmp/peers-as-deps.mjs && npm install --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY stack/demo/loop.sh ./demo-loop.sh
USER node
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const s=require('fs').statSync('/tmp/demo-heartbeat');process.exit(Date.now()-s.mtimeMs<180000?0:1)"]
CMD ["sh", "/app/demo-loop.sh"]
