#!/usr/bin/env bash
# Installs the Debian packages paxoskv needs on this machine when they are missing:
#   start: nats-server, redis-server (npm start runs a local cluster from them)
#   test:  the same, plus chromium (the web page's browser test) and faketime (the chaos
#          runner's clock faults)
# Run by `npm start` and `npm test` (prestart/pretest) and by .ci/run. Needs root for apt-get;
# otherwise it prints the command to run.
set -euo pipefail
want=(nats-server redis-server)
[ "${1:-start}" = "test" ] && want+=(chromium faketime openssl)

binary_of() { case "$1" in chromium) echo chromium ;; *) echo "$1" ;; esac; }
need=()
for pkg in "${want[@]}"; do
  command -v "$(binary_of "$pkg")" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

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
