#!/usr/bin/env bash
# conformance.sh runs the OCI distribution-spec conformance suite against a
# fresh registry on a free loopback port, with every API and data type
# switched on, and fails unless the suite reports a pass with 0 failures,
# 0 errors and 0 skipped checks.
#
#   scripts/conformance.sh NAME [VAR=VALUE ...]
#
# NAME names the run (results go to $OUT/NAME, default build/conformance);
# the VAR=VALUE pairs are extra environment for the suite (OCI_VERSION=dev,
# OCI_DATA_SPARSE=true, ...) and, for PIER_* variables, for the registry.
# The registry is `pier serve`, or with PIER_TARGET=local-api the Lambda
# function under the Runtime Interface Emulator behind the local API
# Gateway (scripts/local-api.sh; PIER_LOCAL_API_KIND=http|rest|url).
set -euo pipefail

name=${1:?usage: conformance.sh NAME [VAR=VALUE ...]}
shift
top=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$top/build/conformance}/$name
suite=$("$top/scripts/tools.sh" conformance)
pier=${PIER_BIN:-$top/build/pier}

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	[ -d "$work/api" ] && cp "$work"/api/*.log "$out/" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

port=$("$top/scripts/freeport.sh")
rm -rf "$out"
mkdir -p "$out"

# Split the extra settings: PIER_* go to the server, the rest to the suite.
server_env=() suite_env=()
for kv in "$@"; do
	case "$kv" in
	PIER_*) server_env+=("$kv") ;;
	*) suite_env+=("$kv") ;;
	esac
done

# Auth: off unless PIER_AUTH=token is among the settings; then a user with
# every right on every repository (so that anonymous mounts, which take a
# blob from any repository, are allowed) is made first, and the
# suite logs in as it.
auth=none
for kv in "${server_env[@]}"; do [ "$kv" = PIER_AUTH=token ] && auth=token; done
server_env+=("PIER_AUTH=$auth")
if [ "$auth" = token ]; then
	user=conformance pass=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
	[ -x "$pier" ] || { echo "conformance: $pier is not built (make build-pier)" >&2; exit 1; }
	backend=()
	[ "${PIER_TARGET:-serve}" = local-api ] && backend=(PIER_BACKEND=aws)
	echo "$pass" | env "${server_env[@]}" "${backend[@]}" PIER_DATA_DIR="$work/data" PIER_CREATE_RESOURCES=true \
		"$pier" user add "$user" --password-stdin --grant '*=pull,push,delete' >"$out/user.log" 2>&1 ||
		{ cat "$out/user.log" >&2; exit 1; }
	suite_env+=("OCI_USERNAME=$user" "OCI_PASSWORD=$pass")
fi

case "${PIER_TARGET:-serve}" in
serve)
	[ -x "$pier" ] || { echo "conformance: $pier is not built (make build-pier)" >&2; exit 1; }
	env "${server_env[@]}" PIER_ADDR=127.0.0.1:$port PIER_DATA_DIR="$work/data" \
		"$pier" serve >"$out/pier.log" 2>&1 &
	;;
local-api)
	env "${server_env[@]}" PIER_LOCAL_API_ADDR=127.0.0.1:$port PIER_LOCAL_API_DIR="$work/api" \
		"$top/scripts/local-api.sh" >"$out/pier.log" 2>&1 &
	;;
*)
	echo "conformance: PIER_TARGET=$PIER_TARGET: want serve or local-api" >&2
	exit 2
	;;
esac
pid=$!
# local-api builds and starts several servers: give it time.
if ! WAIT_SECONDS=120 "$top/scripts/wait-http.sh" "http://127.0.0.1:$port/v2/" "$pid"; then
	cat "$out/pier.log" >&2
	[ -d "$work/api" ] && tail -n 30 "$work"/api/*.log >&2
	exit 1
fi

set +e
(
	cd "$out"
	env OCI_REGISTRY=127.0.0.1:$port OCI_TLS=disabled OCI_VERSION=1.1 \
		OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 OCI_RESULTS_DIR="$out" \
		OCI_API_PULL=true OCI_API_PUSH=true \
		OCI_API_BLOBS_ATOMIC=true OCI_API_BLOBS_DELETE=true OCI_API_BLOBS_DIGEST_HEADER=true \
		OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true \
		OCI_API_MANIFESTS_ATOMIC=true OCI_API_MANIFESTS_DELETE=true OCI_API_MANIFESTS_DIGEST_HEADER=true \
		OCI_API_MANIFESTS_TAG_PARAM=true \
		OCI_API_TAGS_ATOMIC=true OCI_API_TAGS_DELETE=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true \
		OCI_DATA_IMAGE=true OCI_DATA_INDEX=true OCI_DATA_INDEX_LIST=true OCI_DATA_SPARSE=false \
		OCI_DATA_ARTIFACT=true OCI_DATA_SUBJECT=true OCI_DATA_SUBJECT_MISSING=true \
		OCI_DATA_ARTIFACT_LIST=true OCI_DATA_SUBJECT_LIST=true OCI_DATA_DATA_FIELD=true \
		OCI_DATA_NONDISTRIBUTABLE=true OCI_DATA_CUSTOM_FIELDS=true OCI_DATA_NO_LAYERS=true \
		OCI_DATA_EMPTY_BLOB=true OCI_DATA_SHA512=true \
		"${suite_env[@]}" "$suite" >"$out/report.txt" 2>&1
)
rc=$?
set -e

count() { sed -n "s/^  $1\.*: *\([0-9]*\)\$/\1/p" "$out/report.txt" | head -1; }
pass=$(count Pass) fail=$(count FAIL) errs=$(count Error) skip=$(count Skip)
result=$(sed -n 's/^OCI Conformance Result: //p' "$out/report.txt")
echo "conformance $name: result=${result:-none} pass=${pass:-?} fail=${fail:-?} error=${errs:-?} skip=${skip:-?} (report: $out/report.txt)"
if [ "$rc" -ne 0 ] || [ "$result" != Pass ] || [ "${fail:-1}" != 0 ] || [ "${errs:-1}" != 0 ] || [ "${skip:-1}" != 0 ] || [ "${pass:-0}" = 0 ]; then
	echo "conformance $name FAILED: the suite's report follows" >&2
	sed -n '/^Errors:/,/^API conformance:/p' "$out/report.txt" >&2
	grep -E 'FAIL|Skip|Error' "$out/report.txt" | head -60 >&2
	exit 1
fi
