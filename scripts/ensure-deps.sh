#!/usr/bin/env bash
# Installs what paxoskv needs on this machine when it is missing:
#   start: nats-server, redis-server (Debian packages) and the pinned NATS release below
#          (npm start runs a local cluster on the pinned nats-server)
#   test:  the same, plus chromium (the web page's browser test), faketime (the chaos
#          runner's clock faults) and openssl; the pinned `nats` CLI (the CLI tests)
# Run by `npm start` and `npm test` (prestart/pretest) and by .ci/run. Needs root for apt-get;
# otherwise it prints the command to run.
#
# The pinned NATS release (docs/nats-versions.md says why these): built with `go install`
# into .deps/bin (gitignored), which src/dev/servers.ts prefers to a nats-server on PATH.
# Debian's nats-server (2.9.10 on bookworm) stays installed: it is the oldest server paxoskv
# supports, and CI runs a set of tests against it (PAXOSKV_NATS_SERVER=/usr/sbin/nats-server).
set -euo pipefail
NATS_SERVER_VERSION=v2.15.3
NATSCLI_VERSION=v0.5.0
mode="${1:-start}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.deps/bin"

want=(nats-server redis-server)
[ "$mode" = "test" ] && want+=(chromium faketime openssl)

binary_of() { case "$1" in chromium) echo chromium ;; *) echo "$1" ;; esac; }
# Debian puts nats-server in /usr/sbin, which a non-root PATH may lack.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
need=()
for pkg in "${want[@]}"; do
  have "$(binary_of "$pkg")" || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "paxoskv: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "paxoskv: installing ${need[*]} (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts system services on install; paxoskv starts its own on free ports.
  for svc in redis-server nats-server; do
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
    command -v service >/dev/null 2>&1 && service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# The pinned NATS release. A stamp file per binary records the module version it was built
# from, so a second run (or a bump of the pins above) is decided without Go.
go_pkgs=("github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION:nats-server")
[ "$mode" = "test" ] && go_pkgs+=("github.com/nats-io/natscli/nats@$NATSCLI_VERSION:nats")
missing=()
for entry in "${go_pkgs[@]}"; do
  pkg="${entry%:*}" name="${entry##*:}"
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.version" 2>/dev/null)" = "$pkg" ]; then continue; fi
  missing+=("$entry")
done
[ ${#missing[@]} -eq 0 ] && exit 0

go=$(command -v go || true)
[ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
if [ -z "$go" ]; then
  names=$(for e in "${missing[@]}"; do printf '%s ' "${e%:*}"; done)
  echo "paxoskv: Go is missing, so the pinned NATS release cannot be built: ${names% }." >&2
  echo "  Install Go 1.26 or later (https://go.dev/dl/, into /usr/local/go) and run this again:" >&2
  echo "  bash scripts/ensure-deps.sh $mode" >&2
  [ "$mode" = "test" ] && exit 1
  echo "paxoskv: npm start goes on with the nats-server on PATH (Debian's, $(
    (nats-server --version || /usr/sbin/nats-server --version) 2>/dev/null || echo none))" >&2
  exit 0
fi

mkdir -p "$bin"
for entry in "${missing[@]}"; do
  pkg="${entry%:*}" name="${entry##*:}"
  echo "paxoskv: building $pkg into .deps/bin (go install; the first time takes a minute or two)" >&2
  start=$SECONDS
  # Static (no cgo): the same binary runs in the compose stand-in image on scratch.
  GOBIN="$bin" CGO_ENABLED=0 "$go" install -trimpath "$pkg"
  echo "$pkg" >"$bin/$name.version"
  echo "paxoskv: $name built in $((SECONDS - start)) s" >&2
done
