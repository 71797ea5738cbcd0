#!/usr/bin/env bash
# Builds the local stand-in for the compose file's NATS image, `nats:2.15`, from the pinned
# nats-server release (scripts/ensure-deps.sh builds it with `go install` into .deps/bin), for
# machines that reach no container registry. The shared stand-in script builds `nats:2.10` from
# Debian's 2.9.10, which is not the server the compose file names; this one is.
#
# Laid out like the official image: the static binary and a default nats-server.conf on
# scratch, ENTRYPOINT ["/nats-server"], CMD ["--config", "nats-server.conf"], ports
# 4222/6222/8222. Idempotent: a tag that holds the real image (no stand-in label) or this
# stand-in at the pinned version is kept; a stand-in of another version is rebuilt.
# Needs a running Docker engine (test/compose/ci.sh starts one first). About 5 s once
# .deps/bin/nats-server is there.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=nats:2.15
LABEL=io.paxoskv.standin.nats-server

bash scripts/ensure-deps.sh start >&2
bin=.deps/bin/nats-server
version=$("$bin" --version | awk '{print $2}')   # `nats-server: v2.15.3`
case "$version" in
  v${TAG#nats:}.*) ;;
  *) echo "standin-nats: $bin is $version, but the image tag is $TAG: bump one of them" >&2; exit 1 ;;
esac

if docker image inspect "$TAG" >/dev/null 2>&1; then
  have=$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$TAG")
  if [ -z "$have" ]; then echo "standin-nats: $TAG is present and not a stand-in: kept"; exit 0; fi
  if [ "$have" = "$version" ]; then echo "standin-nats: $TAG (stand-in, nats-server $version) present: kept"; exit 0; fi
  echo "standin-nats: $TAG is a stand-in of nats-server $have: rebuilding for $version"
fi

work=$(mktemp -d /tmp/standin-nats.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/nats-server"
# The official image's default configuration (compose passes its own with --config).
printf '%s\n' 'port: 4222' 'monitor_port: 8222' 'cluster {' '  name: "my_cluster"' \
  '  port: 6222' '  routes = []' '}' >"$work/nats-server.conf"
cat >"$work/Dockerfile" <<EOF
FROM scratch
LABEL org.opencontainers.image.description="local stand-in: nats-server $version (go install, static), not the official image"
LABEL $LABEL="$version"
COPY nats-server nats-server.conf /
EXPOSE 4222 6222 8222
ENTRYPOINT ["/nats-server"]
CMD ["--config", "nats-server.conf"]
EOF
# The legacy builder (no buildx on Debian's docker.io); its deprecation notice is noise.
DOCKER_BUILDKIT=0 docker build -q -t "$TAG" "$work" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; echo "standin-nats: building $TAG failed" >&2; exit 1; }
echo "standin-nats: built $TAG: $(docker run --rm "$TAG" --version)"
