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
# The program and its configs belong to root and are read-only to the gateway.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY docker/init-volumes.sh ./docker/init-volumes.sh
# What the gateway writes lives on volumes owned by its user, `node` (uid 1000), mode 700: the keys,
# key-state.json (revocations) and key-history.json in keys/, the Art. 10(6) records in audit/, the
# TLS material of the peer link in tls/ (config/docker/*.json; docs/operator.md, "Containers").
RUN mkdir -p /var/lib/accord/keys /var/lib/accord/audit /var/lib/accord/tls \
  && chown node:node /var/lib/accord/keys /var/lib/accord/audit /var/lib/accord/tls \
  && chmod 700 /var/lib/accord/keys /var/lib/accord/audit /var/lib/accord/tls
VOLUME ["/var/lib/accord/keys", "/var/lib/accord/audit", "/var/lib/accord/tls"]
USER node
# The admin server of config/docker/*.json: /healthz answers without a token.
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Production mode refuses test-only material: set ACCORD_IDENTIFIER_KEY (openssl rand -base64 32; the
# configs have no default), ACCORD_ADMIN_TOKEN (openssl rand -hex 32), and put real keys and TLS
# material on the volumes (docs/security.md).
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start", "--config", "config/docker/cz.json"]
