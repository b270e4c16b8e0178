#!/bin/sh
# One-shot: creates Temporal's two databases on temporal-postgres if missing and brings their schemas
# to the version shipped with this server, with Temporal's own temporal-sql-tool. Idempotent: a
# second run (every `docker compose up`) finds the databases and applies only newer versions, which
# is also how an upgrade of the server migrates its schema (docs/operations.md).
set -eu
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
export SQL_PASSWORD="$POSTGRES_PWD"
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" "$@"; }
for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db=${pair%%:*}
  dir=/etc/temporal/schema/postgresql/v12/${pair#*:}/versioned
  sql --db "$db" create-database 2>/dev/null && echo "created database $db" || echo "database $db exists"
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$dir"
  echo "schema of $db at $(ls "$dir" | sort -V | tail -1)"
done
