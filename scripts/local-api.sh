#!/usr/bin/env bash
# local-api.sh runs Pier's Lambda function on this machine, as API Gateway
# and Lambda would run it: the real `bootstrap` binary under the AWS Lambda
# Runtime Interface Emulator, behind a local API Gateway front
# (cmd/localapi), with storage on DynamoDB Local and versitygw
# (scripts/local-aws.sh) unless AWS endpoints are already set.
#
#   scripts/local-api.sh        # or: make local-api
#
#   PIER_LOCAL_API_KIND   http (HTTP API, payload 2.0; default), rest (REST
#                         API, payload 1.0) or url (Lambda function URL)
#   PIER_LOCAL_API_ADDR   where the front listens (default 127.0.0.1:9000)
#   PIER_LOCAL_API_DIR    state and logs (default build/local-api)
#   PIER_LOCAL_API_CONCURRENCY
#                         how many execution environments run the function
#                         (default 4): as many RIEs, each running its own
#                         bootstrap and serving one invocation at a time,
#                         as Lambda runs concurrent invocations in separate
#                         environments; the front sends each request to a
#                         free one. 1 serves every request in turn.
#   PIER_LOCAL_API_UPLOAD_ORIGIN
#                         http://host:port of an upload endpoint (pier serve
#                         --backend aws on the same bucket, table and signing
#                         key): the front then also plays the CloudFront
#                         distribution of template.yaml's UploadOrigin, which
#                         sends the requests of blob uploads
#                         (/v2/*/blobs/uploads[/*]) there instead of to the
#                         function (internal/localapi/cdn.go). Default: none.
#
# It prints the registry's URL once it answers, and stops everything it
# started on Ctrl-C or SIGTERM.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
kind=${PIER_LOCAL_API_KIND:-http}
addr=${PIER_LOCAL_API_ADDR:-127.0.0.1:9000}
state=${PIER_LOCAL_API_DIR:-$top/build/local-api}
case "$kind" in http | rest | url) ;; *) echo "local-api: PIER_LOCAL_API_KIND=$kind: want http, rest or url" >&2; exit 2 ;; esac
concurrency=${PIER_LOCAL_API_CONCURRENCY:-4}
if ! [[ "$concurrency" =~ ^[1-9][0-9]*$ ]]; then echo "local-api: PIER_LOCAL_API_CONCURRENCY=$concurrency: want a number from 1" >&2; exit 2; fi
mkdir -p "$state"

pids=()
started_aws=
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$started_aws" ]; then "$top/scripts/local-aws.sh" stop >/dev/null 2>&1 || true; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "local-api: building bootstrap" >&2
(cd "$top" && CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o "$state/bootstrap" ./functions/api)
(cd "$top" && go build -o "$state/pier" ./cmd/pier && go build -o "$state/localapi" ./cmd/localapi)
rie=$("$top/scripts/tools.sh" rie)

if [ -z "${AWS_ENDPOINT_URL_S3:-}${AWS_ENDPOINT_URL:-}" ]; then
	export PIER_LOCAL_AWS_DIR=${PIER_LOCAL_AWS_DIR:-$state/aws}
	started_aws=1
	envfile=$("$top/scripts/local-aws.sh" start)
	# shellcheck source=/dev/null
	. "$envfile"
fi

# The function's settings, as template.yaml sets them in AWS, and the
# local servers' bucket and table, created at its cold start.
# Auth is off unless PIER_AUTH=token is set, as with make run; the signing
# key is a file here (Secrets Manager in AWS). Every environment logs to
# rie.log (its REPORT lines too), as Lambda logs every environment of a
# function to its log group.
: >"$state/rie.log"
invoke=
for _ in $(seq "$concurrency"); do
	rie_port=$("$top/scripts/freeport.sh")
	api_port=$("$top/scripts/freeport.sh")
	PIER_BACKEND=aws PIER_BUCKET=${PIER_BUCKET:-pier-local} PIER_TABLE_PREFIX=${PIER_TABLE_PREFIX:-pier-local-} \
		PIER_AUTH=${PIER_AUTH:-none} PIER_AUTH_KEY_FILE=${PIER_AUTH_KEY_FILE:-$state/auth.key} \
		PIER_CREATE_RESOURCES=true AWS_LAMBDA_FUNCTION_TIMEOUT=30 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 \
		"$rie" --runtime-interface-emulator-address "127.0.0.1:$rie_port" --runtime-api-address "127.0.0.1:$api_port" \
		"$state/bootstrap" >>"$state/rie.log" 2>&1 &
	pids+=($!)
	invoke+=${invoke:+,}http://127.0.0.1:$rie_port/2015-03-31/functions/function/invocations
done
# A REST API's gate (template.yaml) leads to the token endpoint: with auth
# on, as in AWS.
gate=()
if [ "$kind" = rest ] && [ "${PIER_AUTH:-none}" = token ]; then gate=(--gate); fi
"$state/localapi" --kind "$kind" --addr "$addr" "${gate[@]}" \
	--invoke "$invoke" >"$state/gateway.log" 2>&1 &
pids+=($!)
gateway_pid=$!

if ! "$top/scripts/wait-http.sh" "http://$addr/v2/" "$gateway_pid"; then
	echo "local-api: the registry did not answer; the logs follow" >&2
	tail -n 30 "$state/rie.log" "$state/gateway.log" >&2
	exit 1
fi
echo "Pier on Lambda (RIE, front door: $kind, $concurrency execution environments) at http://$addr/v2/ (logs in $state)"
if [ -n "${PIER_LOCAL_API_UPLOAD_ORIGIN:-}" ]; then
	echo "uploads (/v2/*/blobs/uploads[/*]) go to $PIER_LOCAL_API_UPLOAD_ORIGIN, as CloudFront would send them"
fi
if [ "${PIER_AUTH:-none}" = none ]; then
	echo "auth is off: anyone may pull, push and delete (PIER_AUTH=token make local-api turns it on)"
else
	echo "auth is on; to add a user, in another shell: ${envfile:+. $envfile; }$state/pier user add NAME --grant '*=pull,push' --backend aws --bucket ${PIER_BUCKET:-pier-local} --table-prefix ${PIER_TABLE_PREFIX:-pier-local-}"
fi
wait -n "${pids[@]}" || true
echo "local-api: a process ended; stopping" >&2
exit 1
