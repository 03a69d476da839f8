#!/usr/bin/env bash
# with-local-aws.sh runs a command with the local AWS stand-ins running:
# it starts DynamoDB Local and versitygw (scripts/local-aws.sh start), runs
# the command with their env file sourced, and stops them whatever happens.
# It sets PIER_REQUIRE_LOCAL_AWS=1, so that a test that needs the servers
# fails instead of skipping (internal/awstest) when it does not find them:
# every make target that runs such tests goes through this script, so none
# can skip them silently.
#
#   scripts/with-local-aws.sh go test ./...
#
# Each run keeps its servers' state in a directory of its own,
# build/local-aws/run-<pid> (unless PIER_LOCAL_AWS_DIR names one), so that
# two runs in one checkout do not stop each other's servers; a run first
# stops and removes what runs no longer alive left there.
#
# It exits with the command's status, or 1 if the servers would not start or
# stop.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=local-aws.sh
. "$top/scripts/local-aws.sh" # la_alive

if [ -z "${PIER_LOCAL_AWS_DIR:-}" ]; then
	runs=$top/build/local-aws
	for dir in "$runs"/run-*; do
		[ -d "$dir" ] || continue
		la_alive "${dir##*/run-}" && continue
		PIER_LOCAL_AWS_DIR=$dir "$top/scripts/local-aws.sh" stop 2>/dev/null || true
		rm -rf "$dir"
	done
	export PIER_LOCAL_AWS_DIR=$runs/run-$$
fi

trap '"$top/scripts/local-aws.sh" stop || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
envfile=$("$top/scripts/local-aws.sh" start)
# shellcheck source=/dev/null
. "$envfile"
export PIER_REQUIRE_LOCAL_AWS=1

rc=0
"$@" || rc=$?
trap - EXIT
if ! "$top/scripts/local-aws.sh" stop && [ "$rc" -eq 0 ]; then
	rc=1
fi
exit "$rc"
