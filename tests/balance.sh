#!/bin/sh
# -B random: two weir processes with the same servers make different choices (each seeds its
# own generator), so instances behind one address do not pick in step.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

args=""
for s in 1 2 3 4 5 6 7 8; do
	start_server "s$s" echo
	args="$args -b 127.0.0.1:$SERVER_PORT"
done
# choices: the servers 30 one-after-another clients of a fresh weir -B random went to.
choices() {
	# shellcheck disable=SC2086
	start_weir -B random $args
	for i in $(seq 30); do
		"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 10 >/dev/null ||
			fail "client $i was not served"
	done
	wait_for closed_at_least 30 || fail "30 closed lines expected"
	closed_lines | sed -n 's/.* server=\([^ ]*\) .*/\1/p' >"$TMP/$1"
	stop_weir
}
choices first
choices second
[ "$(sort -u "$TMP/first" | wc -l)" -ge 4 ] || fail "-B random used few servers: $(sort -u "$TMP/first")"
! cmp -s "$TMP/first" "$TMP/second" || fail "two weir processes made the same 30 random choices"
echo "random ok: two processes chose differently"
