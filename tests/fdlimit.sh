#!/bin/sh
# Out of descriptors: weir runs with a limit of 64 descriptors but --max-connections 1000, and
# 300 clients arrive at once. weir must stay up, use a small fraction of a core (no spinning
# on a listener it cannot accept from), close every excess client within a second instead of
# leaving it hanging, and serve new clients normally once descriptors free up.
#
# Run at two limits, one descriptor apart: whether the last free slot goes to accept() (the
# client is then closed when its server socket fails) or accept() itself fails (the spare
# descriptor sheds the client) depends on the parity of what is free, and both must hold,
# with every worker shedding at once into the one descriptor table.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo

flood_at() {
	echo "--- descriptor limit $1"
	: >"$TMP/weir.log"
	(ulimit -n "$1" && exec "$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$SERVER_PORT" \
		--max-connections 1000 --stats 127.0.0.1:0 2>>"$TMP/weir.log") &
	WEIR_PID=$!
	PIDS="$PIDS $WEIR_PID"
	wait_for started || fail "weir did not start"
	WEIR_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/weir.log" | head -n 1)
	grep -q "max-connections 1000 is more than the descriptor limit allows" "$TMP/weir.log" ||
		fail "no warning about max-connections exceeding the descriptor limit"

	# Descriptors weir has open on /dev/null (the spare, and whatever it inherited).
	null_fds() {
		find "/proc/$WEIR_PID/fd" -mindepth 1 -maxdepth 1 -lname /dev/null | wc -l
	}
	null_at_start=$(null_fds)
	spare_held() {
		[ "$(null_fds)" -eq "$null_at_start" ]
	}

	# CPU time (user + system, in clock ticks) weir has used so far.
	cpu_ticks() {
		awk '{ print $14 + $15 }' "/proc/$WEIR_PID/stat"
	}

	before=$(cpu_ticks)
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode flood --connections 300 --duration 3 \
		--timeout 5 --ready-file "$TMP/flooded" >"$TMP/flood.out" 2>&1 &
	flood=$!
	PIDS="$PIDS $flood"
	# A scraper arrives at the stats endpoint while descriptors are gone: it must wait in the
	# backlog without making that listener spin either.
	wait_for test -s "$TMP/flooded" || fail "the flood did not get going"
	sport=$(sed -n 's/.*stats on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/weir.log")
	"$TCPKIT" client "127.0.0.1:$sport" --mode flood --connections 2 --timeout 2 >/dev/null 2>&1 &
	PIDS="$PIDS $!"
	sleep 3
	after=$(cpu_ticks)
	reap "$flood" 150 "the flood client"
	[ "$REAPED" -eq 0 ] || fail "flood client failed: $(cat "$TMP/flood.out")"
	kill -0 "$WEIR_PID" 2>/dev/null || fail "weir died under descriptor exhaustion"

	# "flood: C connections, S served, X closed, H hung, D dropped, slowest close N ms"
	set -- $(cat "$TMP/flood.out")
	served=$4 closed=$6 hung=$8 slowest=${14}
	echo "flood: $served served, $closed closed, $hung hung, slowest close $slowest ms"
	[ "$hung" -eq 0 ] || fail "$hung clients were left hanging"
	[ "$served" -ge 1 ] || fail "no client was served"
	[ $((served + closed)) -eq 300 ] || fail "served + closed is not 300: $(cat "$TMP/flood.out")"
	[ "$slowest" -lt 1000 ] || fail "an excess client waited $slowest ms for its close"

	hz=$(getconf CLK_TCK)
	used=$((after - before))
	echo "weir used $used ticks of CPU (at $hz per second) in the 3 s after the flood began"
	# A spinning loop would use about 3 s worth; allow a tenth of a core.
	[ "$used" -le $((3 * hz / 10)) ] || fail "weir used $used ticks in 3 s: it is spinning"

	# Which path closes the excess depends on the parity of the free descriptors: accept()
	# failing (the spare descriptor sheds the client; logged once per episode) or the server
	# socket failing after accept (closed as local-error). test_listener pins the first exactly.
	warnings=$(grep -c "closing new clients at once" "$TMP/weir.log" || true)
	local_errors=$(grep -c "end=local-error" "$TMP/weir.log" || true)
	echo "excess closed by: the spare descriptor ($warnings warning(s)), local-error ($local_errors)"
	[ "$warnings" -ge 1 ] || [ "$local_errors" -ge 1 ] || fail "running out of descriptors left no trace"
	[ "$warnings" -le 5 ] || fail "$warnings warnings: the shortage is logged per client, not once"
	# A server socket() failing for want of descriptors is logged at most once a second.
	shortage=$(grep -c "cannot connect to .*weir's own shortage" "$TMP/weir.log" || true)
	[ "$shortage" -le 5 ] || fail "$shortage lines for $local_errors clients: the shortage is logged per client"

	# The spare descriptor, given up to shed clients, is held again once descriptors free up
	# (taken back on a timer, not only when the next shortage comes): as many descriptors on
	# /dev/null as weir had when it started, spare included.
	wait_for spare_held || fail "the spare descriptor was not taken back"

	# Descriptors are free again: clients are proxied normally, every byte checked.
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --connections 4 --bytes 1m --timeout 30 ||
		fail "clients were not served after descriptors freed up"
	stop_weir
}

flood_at 65
flood_at 66
echo "descriptor exhaustion ok"
