#!/usr/bin/env bash
# local-aws.sh starts and stops the local AWS stand-ins that the tests use,
# DynamoDB Local (scripts/dynamodb-local.sh) and versitygw for S3
# (scripts/versitygw.sh), each on a free port, and keeps their state in
# $PIER_LOCAL_AWS_DIR (default: build/local-aws).
#
#   scripts/local-aws.sh start   # stop what an earlier start left, start both,
#                                # print the path of the env file to source
#   scripts/local-aws.sh stop    # stop both, by their own PIDs
#   scripts/local-aws.sh env     # print the env file (eval-able)
#
# The env file sets AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_DEFAULT_REGION
# (the AWS SDKs read them themselves; S3 needs path-style addressing), and
# unsets AWS_SESSION_TOKEN and AWS_PROFILE. scripts/with-local-aws.sh CMD...
# runs a command with it and always stops the servers.
#
# dynamodb-local.sh and versitygw.sh source this file for the la_* helpers
# below; run as a command it does the above.

la_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
la_cache=${PIER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pier}
la_state=${PIER_LOCAL_AWS_DIR:-$la_top/build/local-aws}
# One set of dummy credentials for every server: versitygw checks them
# (they are its root account), DynamoDB Local only keys its data by them.
LA_ACCESS_KEY=pierlocal
LA_SECRET_KEY=pierlocalsecret
LA_REGION=us-east-1

# la_alive PID: whether PID is a live process (a zombie is not).
la_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st:0:1}" != Z ]
}

# la_fail NAME MESSAGE: says which server failed and why, shows the tail of
# its log, and exits 1.
la_fail() {
	local name=$1 msg=$2 log="$la_state/$1.log"
	echo "$name: FAILED: $msg" >&2
	if [ -s "$log" ]; then
		echo "$name: last lines of $log:" >&2
		tail -n 40 "$log" | sed 's/^/  | /' >&2
	fi
	exit 1
}

# la_gone PID TENTHS: waits up to TENTHS tenths of a second for PID to
# exit; whether it did.
la_gone() {
	local _
	for _ in $(seq 1 "$2"); do
		la_alive "$1" || return 0
		sleep 0.1
	done
	! la_alive "$1"
}

# la_stop NAME MARKER: stops the process in $la_state/NAME.pid, if it is
# still one whose command line holds MARKER, by SIGTERM, then SIGKILL after
# 15 s; fails if it is still there 5 s after that. Nothing else is killed.
la_stop() {
	local name=$1 marker=$2 pidf="$la_state/$1.pid" pid
	[ -f "$pidf" ] || return 0
	pid=$(cat "$pidf")
	if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
		echo "$name: ignoring a malformed pid file $pidf" >&2
	elif la_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! la_gone "$pid" 150; then
			echo "$name: pid $pid did not exit within 15 s of SIGTERM; sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			if ! la_gone "$pid" 50; then
				echo "$name: FAILED: pid $pid is still running after SIGKILL" >&2
				return 1
			fi
		fi
		echo "$name: stopped pid $pid" >&2
	elif la_alive "$pid"; then
		echo "$name: pid $pid is no longer $name (stale pid file); leaving it alone" >&2
	else
		echo "$name: pid $pid had already exited" >&2
	fi
	rm -f "$pidf"
}

# la_start NAME MARKER TIMEOUT: starts a server on a free loopback port and
# waits up to TIMEOUT s for it to answer. The calling script defines
# la_run PORT, which must end by exec'ing the server (so that $! is its PID),
# and la_probe PORT, which prints the HTTP status of one request to it (000
# for none) and returns 0 only if that answer shows the server works. A
# server that dies because its port was taken meanwhile is retried on
# another port, twice at most. Sets LA_PORT and LA_PID.
la_start() {
	local name=$1 marker=$2 timeout=$3
	local log="$la_state/$name.log" attempt port pid deadline code
	LA_NAME=$name
	mkdir -p "$la_state"
	for attempt in 1 2 3; do
		port=$("$la_top/scripts/freeport.sh")
		la_run "$port" </dev/null >"$log" 2>&1 &
		pid=$!
		echo "$pid" >"$la_state/$name.pid"
		deadline=$((SECONDS + timeout))
		while :; do
			if ! la_alive "$pid"; then
				wait "$pid" 2>/dev/null && code=0 || code=$?
				rm -f "$la_state/$name.pid"
				if [ "$attempt" -lt 3 ] && grep -qi 'address already in use' "$log"; then
					echo "$name: port $port was taken meanwhile; trying another" >&2
					continue 2
				fi
				la_fail "$name" "the server exited (status $code) before it answered on 127.0.0.1:$port"
			fi
			if code=$(la_probe "$port"); then
				# shellcheck disable=SC2034 # used by the caller
				LA_PORT=$port LA_PID=$pid
				return 0
			fi
			if [ "$code" != 000 ]; then
				la_stop "$name" "$marker" || true
				la_fail "$name" "127.0.0.1:$port answered, but wrongly (HTTP $code; body: $(head -c 500 "$la_state/$name.probe" 2>/dev/null))"
			fi
			if [ "$SECONDS" -ge "$deadline" ]; then
				la_stop "$name" "$marker" || true
				la_fail "$name" "127.0.0.1:$port did not answer within $timeout s"
			fi
			sleep 0.2
		done
	done
}

# la_curl ARGS...: one request for la_probe: the body goes to
# $la_state/NAME.probe, the HTTP status (000 for no answer) to stdout.
la_curl() {
	curl -s --max-time 3 -o "$la_state/$LA_NAME.probe" -w '%{http_code}' "$@" 2>/dev/null || true
}

# la_set_env NAME [LINE...]: records NAME's lines for the env file (none:
# NAME is gone) and rewrites $la_state/env from every running server's.
la_set_env() {
	local name=$1 tmp
	shift
	mkdir -p "$la_state"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"$la_state/$name.env"
	else
		rm -f "$la_state/$name.env"
	fi
	if ! compgen -G "$la_state/*.env" >/dev/null; then
		rm -f "$la_state/env"
		return 0
	fi
	tmp=$(mktemp "$la_state/env.XXXXXX")
	{
		echo "# The local AWS stand-ins now running (scripts/local-aws.sh); source this file."
		echo "export AWS_ACCESS_KEY_ID=$LA_ACCESS_KEY"
		echo "export AWS_SECRET_ACCESS_KEY=$LA_SECRET_KEY"
		echo "export AWS_REGION=$LA_REGION"
		echo "export AWS_DEFAULT_REGION=$LA_REGION"
		echo "unset AWS_SESSION_TOKEN AWS_PROFILE"
		cat "$la_state"/*.env
	} >"$tmp"
	chmod 644 "$tmp"
	mv "$tmp" "$la_state/env"
}

la_main() {
	set -euo pipefail
	local top=$la_top
	case "${1:-}" in
	start)
		# Each script first stops what an earlier start of its left.
		"$top/scripts/versitygw.sh" stop
		"$top/scripts/dynamodb-local.sh" start
		if ! "$top/scripts/versitygw.sh" start; then
			"$top/scripts/dynamodb-local.sh" stop || true
			echo "local-aws: FAILED to start versitygw; DynamoDB Local stopped again" >&2
			exit 1
		fi
		echo "$la_state/env"
		;;
	stop)
		local rc=0
		"$top/scripts/versitygw.sh" stop || rc=1
		"$top/scripts/dynamodb-local.sh" stop || rc=1
		[ "$rc" -eq 0 ] || echo "local-aws: FAILED to stop everything (see above)" >&2
		exit "$rc"
		;;
	env)
		[ -f "$la_state/env" ] || { echo "local-aws: nothing running (no $la_state/env): scripts/local-aws.sh start" >&2; exit 1; }
		cat "$la_state/env"
		;;
	*)
		echo "usage: $0 start|stop|env" >&2
		exit 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	la_main "$@"
fi
