#!/bin/sh
# One-shot, after the server is healthy: registers the namespace swerl uses if it does not exist.
set -eu
ns=${TEMPORAL_NAMESPACE:-default}
addr=${TEMPORAL_ADDRESS:-temporal:7233}
if temporal operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1; then
  echo "namespace $ns exists"
else
  temporal operator namespace create --address "$addr" --namespace "$ns" --retention "${TEMPORAL_RETENTION:-72h}"
  echo "namespace $ns created"
fi
