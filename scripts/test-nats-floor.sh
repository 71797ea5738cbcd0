#!/usr/bin/env bash
# The compatibility floor: the integration tests that lean most on NATS itself (JetStream
# consumers and an R3 stream across server crashes, authorization, TLS, the `nats` CLI) run
# against the oldest nats-server paxoskv supports, Debian bookworm's 2.9.10, while the rest
# of `npm test` runs on the pinned release (docs/nats-versions.md). Called by .ci/run.
#   bash scripts/test-nats-floor.sh [more vitest args]
# PAXOSKV_NATS_FLOOR names another binary (default: Debian's /usr/sbin/nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
floor="${PAXOSKV_NATS_FLOOR:-/usr/sbin/nats-server}"
if [ ! -x "$floor" ]; then
  echo "paxoskv: no nats-server at $floor (apt-get install -y nats-server, or set PAXOSKV_NATS_FLOOR)" >&2
  exit 1
fi
echo "paxoskv: compatibility floor: $("$floor" --version) ($floor)"
PAXOSKV_NATS_SERVER="$floor" exec npx vitest run \
  test/integration/servers.test.ts test/integration/learner.test.ts \
  test/integration/jetstream-wait.test.ts test/integration/chosen-log-failover.test.ts \
  test/integration/chosen-log.test.ts test/integration/chosen-log-upgrade.test.ts \
  test/integration/cluster-race.test.ts test/integration/rebuild.test.ts \
  test/integration/authz.test.ts test/integration/tls.test.ts \
  test/integration/nats-cli.test.ts "$@"
