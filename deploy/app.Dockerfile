# swerl's TypeScript workers and CLI (orchestration worker, rollout workers = sandbox hosts, the
# scripted policy of the smoke run), built offline by `swerl cluster build`: the mmdebstrap rootfs
# named by BASE (Debian trixie: nodejs 20, git) plus the repository's tracked files and its
# node_modules (installed on the build host from package-lock.json). Runs as uid 1000.
ARG BASE
FROM ${BASE}
RUN groupadd --gid 1000 swerl && useradd --uid 1000 --gid 1000 --create-home swerl \
 && mkdir -p /var/lib/swerl/cache /var/lib/swerl/checkpoints && chown -R swerl:swerl /var/lib/swerl
WORKDIR /opt/swerl
COPY --chown=0:0 . /opt/swerl/
ENV SWERL_HOME=/var/lib/swerl \
    LANG=C.UTF-8
USER 1000:1000
# Transpile the CLI once at build time (tsx's cache in /tmp/tsx-1000): a cold start of every worker
# and of every health check would otherwise spend minutes of CPU on a loaded host.
RUN node --import tsx cli/main.ts --help >/dev/null
# tini (PID 1) passes SIGTERM to node, and the worker drains; no npx in between to swallow it.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--import", "tsx", "cli/main.ts"]
CMD ["worker", "--role", "orchestration"]
