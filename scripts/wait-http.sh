#!/usr/bin/env bash
# wait-http.sh URL [PID]: waits up to 30 s for URL to answer, and fails at
# once if process PID has died.
url=$1 pid=${2:-}
for _ in $(seq 1 300); do
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		echo "wait-http: process $pid died before $url answered" >&2
		exit 1
	fi
	curl -fsS -o /dev/null "$url" 2>/dev/null && exit 0
	sleep 0.1
done
echo "wait-http: $url did not answer within 30 s" >&2
exit 1
