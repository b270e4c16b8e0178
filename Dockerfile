# swerl's TypeScript workers (orchestration, rollout) and CLI. Rollout workers drive the host's
# Docker daemon through the mounted socket; they need the docker CLI only for debugging.
FROM node:20-bookworm-slim
WORKDIR /opt/swerl
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY . .
# Non-root (the image's uid 1000 "node"); the cache volume is created owned by it.
RUN mkdir -p /var/lib/swerl/cache && chown -R node:node /var/lib/swerl
USER node
ENTRYPOINT []
CMD ["npx", "tsx", "cli/main.ts", "worker", "--role", "orchestration"]
