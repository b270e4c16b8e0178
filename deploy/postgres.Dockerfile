# PostgreSQL for the compose deployment (swerl's database and Temporal's), built offline by
# `swerl cluster build` on the mmdebstrap rootfs named by the BASE build argument (Debian bookworm,
# postgresql-15). The entrypoint initialises an empty data directory with the required password
# (scram-sha-256, no trust), then runs the server as the `postgres` user.
ARG BASE
FROM ${BASE}
COPY postgres/entrypoint.sh /usr/local/bin/swerl-postgres-entrypoint
RUN chmod 0755 /usr/local/bin/swerl-postgres-entrypoint \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/swerl-postgres-entrypoint"]
