# The real Temporal server (Go module go.temporal.io/server, built by `swerl cluster build`), its
# SQL schema tool (the schema files are embedded in it), and the temporal CLI for health checks and the namespace,
# on the mmdebstrap rootfs named by BASE. One image serves the server and its two one-shot setup
# services (schema, namespace). Runs as uid 1000.
ARG BASE
FROM ${BASE}
COPY bin/ /usr/local/bin/
COPY temporal/config.yaml temporal/dynamicconfig.yaml /etc/temporal/
COPY temporal/entrypoint.sh /usr/local/bin/swerl-temporal-entrypoint
COPY temporal/setup-schema.sh /usr/local/bin/swerl-temporal-setup-schema
COPY temporal/setup-namespace.sh /usr/local/bin/swerl-temporal-setup-namespace
RUN chmod 0755 /usr/local/bin/* \
 && groupadd --gid 1000 temporal && useradd --uid 1000 --gid 1000 --no-create-home temporal
USER 1000:1000
WORKDIR /etc/temporal
EXPOSE 7233 7243 9090
ENTRYPOINT ["/usr/local/bin/swerl-temporal-entrypoint"]
