#!/usr/bin/env bash
# CI step of the docker-compose end-to-end test (`npm run test:compose`), called by .ci/run.
# Where a Docker engine can be started it runs the test, and a failing test fails CI; where
# none can be started it says why and exits 0 (the rest of CI does not need Docker).
# docker/standin-images.sh (as root) installs docker.io and docker-compose,
# starts dockerd and builds stand-ins for node:24-bookworm-slim, nats:2.10 and redis:7.2 on a
# machine that reaches no container registry; it is idempotent.
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
npm run test:compose
