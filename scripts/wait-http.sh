#!/usr/bin/env bash
# wait-http.sh URL [PID]: waits up to WAIT_SECONDS (default 30) for URL to
# answer (any HTTP status: a registry with auth on answers 401), and fails
# at once if process PID has died.
url=$1 pid=${2:-}
secs=${WAIT_SECONDS:-30}
for _ in $(seq 1 $((secs * 10))); do
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		echo "wait-http: process $pid died before $url answered" >&2
		exit 1
	fi
	code=$(curl -sS -o /dev/null -w '%{http_code}' "$url" 2>/dev/null) && [ "$code" != 000 ] && exit 0
	sleep 0.1
done
echo "wait-http: $url did not answer within $secs s" >&2
exit 1
