#!/usr/bin/env bash
# dockerd.sh runs a Docker daemon of its own, for the docker scenarios of
# the interop suite (cmd/pier/interop_docker_test.go): Debian's docker.io
# (scripts/tools.sh docker), with everything under DIR and nothing of the
# machine's Docker (its configuration, data, socket, networks) touched.
#
#   scripts/dockerd.sh DIR
#   DOCKER_HOST=unix://DIR/docker.sock /usr/bin/docker info
#
# It runs in the foreground as the dockerd process itself (exec: the PID
# of the script is the daemon's) until SIGTERM, which stops it and the
# containerd it started. It needs root. No networking is set up: no
# iptables rules, no bridge; the daemon pushes and pulls, and runs no
# container that needs a network. Storage is vfs (plain copies), which
# works on any file system, overlay or not.
set -euo pipefail

dir=${1:?usage: scripts/dockerd.sh DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
dockerd=$("$top/scripts/tools.sh" docker | sed -n 2p)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# An empty configuration: /etc/docker/daemon.json (mirrors, insecure
# registries, ...) takes no part.
echo '{}' >"$dir/daemon.json"
exec "$dockerd" --config-file "$dir/daemon.json" \
	--iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
	--data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
	-H "unix://$dir/docker.sock"
