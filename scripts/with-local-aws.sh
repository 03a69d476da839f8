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
# It exits with the command's status, or 1 if the servers would not start or
# stop.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)

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
