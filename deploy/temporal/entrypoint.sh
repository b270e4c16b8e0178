#!/bin/sh
# Listens on every interface of the container (so its own health check reaches 127.0.0.1:7233)
# and advertises the container's address to the other members of the cluster (membership/ringpop).
set -eu
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
: "${BIND_ON_IP:=0.0.0.0}"
: "${TEMPORAL_BROADCAST_ADDRESS:=$(getent hosts "$(cat /etc/hostname)" | cut -d' ' -f1)}"
export BIND_ON_IP TEMPORAL_BROADCAST_ADDRESS
exec temporal-server --config-file /etc/temporal/config.yaml start "$@"
