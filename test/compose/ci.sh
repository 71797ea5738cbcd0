#!/usr/bin/env bash
# CI step of the docker-compose end-to-end test (`npm run test:compose`), called by .ci/run.
# Where a Docker engine can be started it runs the test, and a failing test fails CI; where
# none can be started it says why and exits 0 (the rest of CI does not need Docker).
# docker/standin-images.sh (as root) installs docker.io and docker-compose, starts dockerd
# and builds stand-ins for node:24-bookworm-slim and redis:7.2 on a machine that reaches no
# container registry (and nats:2.10, which the stack does not use); then
# docker/standin-nats.sh builds nats:2.15, the image the compose file names, from the pinned
# nats-server release. Both are idempotent and keep a real image where one is present.
set -uo pipefail
cd "$(dirname "$0")/../.."

standin=docker/standin-images.sh
if [ "$(id -u)" = 0 ]; then
  echo "ci: compose: preparing Docker ($standin)"
  if ! bash "$standin" 2>&1 | tail -n 15; then
    echo "ci: compose: $standin failed (output above)"
  fi
fi
if ! docker info >/dev/null 2>&1; then
  echo "ci: compose: SKIPPED the docker-compose end-to-end test: no Docker engine is running" \
    "and none could be started ($( (docker info 2>&1 || true) | tail -n 1))"
  exit 0
fi
if ! bash docker/standin-nats.sh; then
  echo "ci: compose: docker/standin-nats.sh failed (output above); compose pulls nats:2.15 instead"
fi
npm run test:compose
