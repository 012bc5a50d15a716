# The Accord gateway. Build: docker build -t accord-gateway .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
# The gateway refuses private keys others can read; keys mounted from the host are copied here, 0600,
# owned by the gateway's user (see docker-compose.yml).
RUN mkdir -p /app/certs-example && chown node:node /app/certs-example
USER node
# Production mode refuses test-only material: set ACCORD_IDENTIFIER_KEY (openssl rand -base64 32; the
# configs have no default) and an amqps:// ACCORD_PEER_AMQP_URL, and mount real keys (docs/security.md).
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start", "--config", "config/cz.json"]
