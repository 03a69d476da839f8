#!/usr/bin/env bash
# wait-http.sh URL [PID]: waits up to WAIT_SECONDS (default 30) for URL to
# answer, and fails at once if process PID has died.
url=$1 pid=${2:-}
secs=${WAIT_SECONDS:-30}
for _ in $(seq 1 $((secs * 10))); do
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		echo "wait-http: process $pid died before $url answered" >&2
		exit 1
	fi
	curl -fsS -o /dev/null "$url" 2>/dev/null && exit 0
	sleep 0.1
done
echo "wait-http: $url did not answer within $secs s" >&2
exit 1
