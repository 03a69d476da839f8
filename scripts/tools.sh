#!/usr/bin/env bash
# tools.sh builds the pinned outside tools that the tests use into a cache
# directory outside the checkout, and prints the path of the one asked for.
#
#   scripts/tools.sh conformance   # the OCI distribution-spec conformance suite
#   scripts/tools.sh crane         # go-containerregistry's crane
#   scripts/tools.sh versitygw     # an S3 server on a POSIX directory
#   scripts/tools.sh rie           # the AWS Lambda Runtime Interface Emulator
#   scripts/tools.sh oras          # oras, the OCI artifact client
#   scripts/tools.sh regctl        # regclient's regctl
#   scripts/tools.sh skopeo        # skopeo, from Debian's packages (apt-get
#                                  # install when missing; not pinned here)
#   scripts/tools.sh chromium      # Debian's chromium, for the browser test
#                                  # of sites (apt-get install when missing)
#   scripts/tools.sh interop       # all four clients of the interop suite
#   scripts/tools.sh docker        # Debian's docker.io (apt-get install when
#                                  # missing): prints its client, then dockerd
#   scripts/tools.sh distribution  # CNCF Distribution's registry (make bench)
#
# The cache is $PIER_CACHE (default: $XDG_CACHE_HOME/pier or ~/.cache/pier).
# A tool is rebuilt only when its pinned version changes.
set -euo pipefail

CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
CRANE_VERSION=v0.22.1
VERSITYGW_VERSION=v1.8.0
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
ORAS_VERSION=v1.3.6
REGCTL_VERSION=v0.11.7
DISTRIBUTION_VERSION=v3.1.2

cache=${PIER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pier}
mkdir -p "$cache/bin"

# build NAME VERSION PACKAGE: go install PACKAGE@VERSION as $cache/bin/NAME-VERSION.
build() {
	local name=$1 version=$2 pkg=$3
	local out="$cache/bin/$name-$version"
	if [ ! -x "$out" ]; then
		echo "building $name $version (once, into $cache/bin)" >&2
		local gobin
		gobin=$(mktemp -d)
		# GOFLAGS from the project (e.g. -mod=vendor) do not apply to outside tools.
		if ! GOFLAGS= GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "$pkg@$version" >&2; then
			rm -rf "$gobin"
			echo "tools.sh: could not build $pkg@$version" >&2
			exit 1
		fi
		mv "$gobin/$(basename "${pkg%%@*}")" "$out"
		rm -rf "$gobin"
	fi
	echo "$out"
}

# apt_install PACKAGE: installs a Debian package with apt-get (as root).
apt_install() {
	echo "installing $1 (apt-get)" >&2
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1"; } >&2; then
		echo "tools.sh: could not install $1 with apt-get (it needs root)" >&2
		exit 1
	fi
}

# debian_path NAME: a Debian package's command (skopeo, bookworm: 1.9.3;
# chromium, for the browser test of sites), installed with apt-get when it
# is missing (not pinned here), and found on PATH.
debian_path() {
	command -v "$1" >/dev/null 2>&1 || apt_install "$1"
	command -v "$1"
}

# docker is Debian's docker.io (bookworm: 20.10.24): the daemon and the
# client of the same version (another docker on PATH, e.g. a newer one in
# /usr/local/bin, may not speak to it), installed with apt-get when
# missing. It prints the client's path, then dockerd's.
docker_paths() {
	local client=/usr/bin/docker dockerd=/usr/sbin/dockerd
	if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q 'install ok installed'; then
		apt_install docker.io
	fi
	for f in "$client" "$dockerd"; do
		if [ ! -x "$f" ]; then
			echo "tools.sh: docker.io is installed but $f is missing" >&2
			exit 1
		fi
	done
	echo "$client"
	echo "$dockerd"
}

case "${1:-}" in
conformance)
	build conformance "$CONFORMANCE_VERSION" github.com/opencontainers/distribution-spec/conformance
	;;
crane)
	build crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
	;;
versitygw)
	build versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw
	;;
rie)
	build aws-lambda-rie "$RIE_VERSION" github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
	;;
oras)
	build oras "$ORAS_VERSION" oras.land/oras/cmd/oras
	;;
regctl)
	build regctl "$REGCTL_VERSION" github.com/regclient/regclient/cmd/regctl
	;;
skopeo)
	debian_path skopeo
	;;
chromium)
	debian_path chromium
	;;
docker)
	docker_paths
	;;
distribution)
	build distribution "$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3/cmd/registry
	;;
interop)
	build crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
	build oras "$ORAS_VERSION" oras.land/oras/cmd/oras
	build regctl "$REGCTL_VERSION" github.com/regclient/regclient/cmd/regctl
	debian_path skopeo
	;;
*)
	echo "usage: $0 conformance|crane|versitygw|rie|oras|regctl|skopeo|chromium|interop|docker|distribution" >&2
	exit 2
	;;
esac
