#!/bin/sh
# Closes tell the truth.
#  - A client that leaves while weir connects for it (to a server that does not answer) or
#    while it waits for a full server frees its place at once, logged as client-aborted,
#    instead of holding the slot until the connect or queue timeout. (These clients send
#    nothing first: one that sent bytes and then ended its side may be a half-close whose
#    answer is still wanted, and keeps its place.)
#  - Without active checks, a black-holed server (SYNs dropped) is marked DOWN after `fall`
#    timeouts and then gets no client until a probe that no client waits on passes: clients
#    stop paying the connect timeout each time its rest ends. When it answers again, a
#    probe brings it back.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server good echo
good=$SERVER_PORT
start_server_on "$(free_port)" hole blackhole
hole=$SERVER_PORT hole_pid=$SERVER_PID

# --- a client that leaves while weir connects for it -------------------------------------
start_weir -b "127.0.0.1:$hole,maxconn=1" -b "127.0.0.1:$good" --connect-timeout 5s --fall 100 \
	--stats 127.0.0.1:0
wait_for grep -q "stats on" "$TMP/weir.log" || fail "no stats"
hole_conns="weir_server_connections{backend=\"default\",server=\"127.0.0.1:$hole\"}"
start=$(date +%s%N)
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --expect 1k --timeout 1 >/dev/null 2>&1 &&
	fail "a client of the black hole was served"
wait_for grep -q "end=client-aborted" "$TMP/weir.log" || fail "the leaving client was not noticed"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 2500 ] || fail "the leaving client was noticed after $ms ms (connect timeout 5 s)"
[ "$(metric "$hole_conns")" = 0 ] || fail "the black hole's slot is still taken: $(metric "$hole_conns")"
grep "end=client-aborted" "$TMP/weir.log" | grep -q "server=127.0.0.1:$hole " ||
	fail "the abort was not logged against the connect it cut short"
[ "$(metric 'weir_connections_closed_total{reason="client-aborted"}')" = 1 ] ||
	fail "the abort was not counted"
stop_weir

# --- a client that leaves while it waits for a full server --------------------------------
start_weir -b "127.0.0.1:$good,maxconn=1" --connect-timeout 5s --stats 127.0.0.1:0
hold_client holder
holder=$HELD
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --expect 1k --timeout 1 >/dev/null 2>&1 &&
	fail "a client got past a full server"
wait_for grep -q "end=client-aborted" "$TMP/weir.log" || fail "the waiting client's leaving was not noticed"
line=$(grep "end=client-aborted" "$TMP/weir.log")
ms=$(echo "$line" | sed -n 's/.*duration_ms=\([0-9]*\).*/\1/p')
[ "$ms" -lt 2500 ] || fail "the waiting client was dropped after $ms ms, not when it left"
release "$holder" "the holder"
start=$(date +%s%N)
served "after the holder left (the slot must not go to the client that left)"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 1000 ] || fail "the next client waited $ms ms"
stop_weir

# --- passive health and a black-holed server ---------------------------------------------
start_weir -b "127.0.0.1:$hole" -b "127.0.0.1:$good" --connect-timeout 1s --fall 2 \
	--health-interval 500ms
i=0
until grep -q "server default/127.0.0.1:$hole is DOWN" "$TMP/weir.log"; do
	[ "$i" -lt 10 ] || fail "the black hole was not marked DOWN after $i clients"
	served "while the black hole is being found out"
	i=$((i + 1))
done
# The client that found the black hole out may not be logged yet: its line is not one of the
# timed clients'.
wait_for closed_at_least "$i" || fail "weir did not log the $i clients"
before=$(closed_lines | wc -l)
: >"$TMP/times"
end=$(($(date +%s) + 3))
while [ "$(date +%s)" -lt "$end" ]; do
	start=$(date +%s%N)
	served "with the black hole DOWN"
	echo $((($(date +%s%N) - start) / 1000000)) >>"$TMP/times"
done
slowest=$(sort -n "$TMP/times" | tail -n 1)
# Weir's own figure for each client (the wall clock above also counts starting tcpkit, which
# a busy machine slows down): one sent to the black hole would take the connect timeout.
wait_for closed_at_least $((before + $(wc -l <"$TMP/times"))) || fail "weir did not log every client"
weir_slowest=$(closed_lines | tail -n +$((before + 1)) |
	sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p' | sort -n | tail -n 1)
echo "$(wc -l <"$TMP/times") clients over 3 s with the black hole DOWN, slowest $slowest ms" \
	"($weir_slowest ms in weir)"
[ "$weir_slowest" -lt 800 ] || fail "a client waited $weir_slowest ms: it was sent to the black hole"
[ "$(grep -c "connect to default/127.0.0.1:$hole failed" "$TMP/weir.log")" -eq 2 ] ||
	fail "clients were sent to the DOWN server: $(grep -c "connect to default/127.0.0.1:$hole failed" "$TMP/weir.log") failed connects"
# It answers again: a probe brings it back without a client paying for the try.
kill "$hole_pid"
reap "$hole_pid" 50 "the black hole"
"$TCPKIT" server "127.0.0.1:$hole" --port-file "$TMP/back.port" --mode echo 2>>"$TMP/back.log" &
PIDS="$PIDS $!"
wait_for test -s "$TMP/back.port" || fail "could not listen on the black hole's port again"
wait_for grep -q "server default/127.0.0.1:$hole is UP (a probe passed)" "$TMP/weir.log" ||
	fail "the server that came back was not probed UP"
for i in 1 2 3 4; do served "after the server came back"; done
closed_lines | grep -q "server=127.0.0.1:$hole server_name=127.0.0.1:$hole end=client-closed" || fail "the server that came back got no client"
stop_weir

echo "closes ok"
