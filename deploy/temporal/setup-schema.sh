#!/bin/sh
# One-shot: creates Temporal's two databases on temporal-postgres if missing and brings their schemas
# to the version this server ships (the schema files embedded in temporal-sql-tool, built from the
# same module version) with Temporal's own temporal-sql-tool. Idempotent: a second run (every
# `docker compose up`) applies only newer versions, which is also how an upgrade of the server
# migrates its schema (docs/operations.md).
set -eu
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
export SQL_PASSWORD="$POSTGRES_PWD"
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" "$@"; }
for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db=${pair%%:*}
  if sql --db "$db" create-database >/dev/null 2>&1; then echo "created database $db"; else echo "database $db exists"; fi
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema --schema-name "postgresql/v12/${pair#*:}"
  echo "schema of $db up to date (postgresql/v12/${pair#*:})"
done
