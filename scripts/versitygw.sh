#!/usr/bin/env bash
# versitygw.sh starts and stops versitygw, an S3 server on a POSIX directory
# (built once by scripts/tools.sh), on a free loopback port, serving a fresh
# empty directory.
#
#   scripts/versitygw.sh start   # stop what an earlier start left, start,
#                                # wait until a signed ListBuckets answers
#   scripts/versitygw.sh stop    # stop it by its own PID, remove its directory
#
# Its directory must be on a filesystem with user extended attributes: the
# first of $PIER_LOCAL_AWS_TMP, $TMPDIR or /tmp, /var/tmp and $PIER_CACHE/tmp
# where they work is used. State (pid, log, data directory, the env file's
# AWS_ENDPOINT_URL_S3 line) is kept in $PIER_LOCAL_AWS_DIR (default:
# build/local-aws); scripts/local-aws.sh tells more. Clients must use
# path-style addressing.
set -euo pipefail

TIMEOUT=30

# shellcheck source=scripts/local-aws.sh
. "$(dirname "$0")/local-aws.sh"

# data_dir: makes and prints a fresh directory that takes user xattrs.
data_dir() {
	local parent d tried=()
	for parent in ${PIER_LOCAL_AWS_TMP:-} "${TMPDIR:-/tmp}" /var/tmp "$la_cache/tmp"; do
		[ -n "$parent" ] || continue
		tried+=("$parent")
		mkdir -p "$parent" 2>/dev/null || continue
		d=$(mktemp -d "$parent/pier-versitygw.XXXXXX" 2>/dev/null) || continue
		if python3 -c '
import os, sys
d = sys.argv[1]
f = os.path.join(d, "xattr-check")
open(f, "w").close()
for p in (d, f):
    os.setxattr(p, "user.pier.check", b"1")
    assert os.getxattr(p, "user.pier.check") == b"1"
os.remove(f)
' "$d" 2>/dev/null; then
			echo "$d"
			return 0
		fi
		rm -rf "$d"
	done
	la_fail versitygw "no directory with user extended attributes among: ${tried[*]} (set PIER_LOCAL_AWS_TMP to one on ext4, xfs or btrfs)"
}

# remove_data_dir: removes the directory that the last start made.
remove_data_dir() {
	local d
	[ -f "$la_state/versitygw.dir" ] || return 0
	d=$(cat "$la_state/versitygw.dir")
	case "$(basename "$d")" in
	pier-versitygw.*) rm -rf "$d" ;;
	*) echo "versitygw: not removing $d (not a directory of this script's)" >&2 ;;
	esac
	rm -f "$la_state/versitygw.dir"
}

marker() {
	if [ -f "$la_state/versitygw.dir" ]; then cat "$la_state/versitygw.dir"; else echo versitygw; fi
}

la_run() {
	# versitygw reads many settings from the environment (VGW_*, LOGFILE,
	# WEBHOOK, and ROOT_ACCESS_KEY_ID before ROOT_ACCESS_KEY): only ours count.
	local unset=() v
	for v in $(compgen -e); do
		case "$v" in
		VGW_* | LOGFILE | WEBHOOK | ROOT_ACCESS_KEY_ID | ROOT_SECRET_ACCESS_KEY) unset+=(-u "$v") ;;
		esac
	done
	exec env "${unset[@]}" ROOT_ACCESS_KEY="$LA_ACCESS_KEY" ROOT_SECRET_KEY="$LA_SECRET_KEY" \
		"$bin" --port "127.0.0.1:$1" --quiet posix "$dir"
}

# la_probe: a ListBuckets signed with the root keys must get 200 (curl
# signs it, but leaves the x-amz-content-sha256 header that S3 needs to us).
la_probe() {
	local code
	code=$(la_curl --aws-sigv4 "aws:amz:$LA_REGION:s3" --user "$LA_ACCESS_KEY:$LA_SECRET_KEY" \
		-H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" "http://127.0.0.1:$1/")
	echo "$code"
	[ "$code" = 200 ]
}

case "${1:-}" in
start)
	la_stop versitygw "$(marker)"
	remove_data_dir
	la_set_env versitygw
	bin=$("$la_top/scripts/tools.sh" versitygw) || la_fail versitygw "scripts/tools.sh could not build it"
	mkdir -p "$la_state"
	dir=$(data_dir)
	echo "$dir" >"$la_state/versitygw.dir"
	# Whatever stops this start half-way stops the server and removes $dir.
	trap 'la_stop versitygw "$dir" || true; remove_data_dir' EXIT
	trap 'exit 1' INT TERM
	la_start versitygw "$dir" "$TIMEOUT"
	trap - EXIT INT TERM
	la_set_env versitygw "export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$LA_PORT"
	echo "versitygw: $(basename "$bin") on 127.0.0.1:$LA_PORT serving $dir (pid $LA_PID; log $la_state/versitygw.log)" >&2
	;;
stop)
	la_stop versitygw "$(marker)"
	remove_data_dir
	la_set_env versitygw
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
