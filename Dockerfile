# swerl's TypeScript workers (orchestration, rollout) and CLI. Rollout workers drive the host's
# Docker daemon through the mounted socket; they need the docker CLI only for debugging.
FROM node:20-bookworm-slim
WORKDIR /opt/swerl
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY . .
ENTRYPOINT []
CMD ["npx", "tsx", "cli/main.ts", "worker", "--role", "orchestration"]
