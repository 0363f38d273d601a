#!/bin/sh
# Three echo backends with active checks. One is killed mid-run: no client hangs, new clients
# go to the other two, and when it returns it gets traffic again after `rise` checks. Then all
# are killed: clients are closed at once, and weir recovers when one comes back. An
# application check that fails takes its server DOWN however many clients still connect to
# it; a unix server whose backlog is full is waited for, not marked DOWN.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

for b in 1 2 3; do
	start_server_on "$(free_port)" "b$b" echo
	eval "port$b=\$SERVER_PORT pid$b=\$SERVER_PID"
done
start_weir -b "127.0.0.1:$port1" -b "127.0.0.1:$port2" -b "127.0.0.1:$port3" \
	--health-check tcp --health-interval 200ms --health-timeout 500ms --rise 2 --fall 2

# clients FROM TO: run clients FROM..TO one after another; each must finish within 5 s.
clients() {
	i=$1
	while [ "$i" -le "$2" ]; do
		start=$(date +%s%N)
		status=0
		"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 256k --timeout 5 \
			>>"$TMP/clients.out" 2>&1 || status=$?
		ms=$((($(date +%s%N) - start) / 1000000))
		[ "$ms" -lt 5000 ] || fail "client $i hung for $ms ms"
		echo "$i $status" >>"$TMP/results"
		i=$((i + 1))
	done
}

served_by() { # PORT: closed lines that went to that backend
	closed_lines | grep -c "server=127.0.0.1:$1 server_name=127.0.0.1:$1 end=client-closed" || true
}

clients 1 15
kill "$pid2"
reap "$pid2" 50 "backend 2"
wait_for grep -q "server default/127.0.0.1:$port2 is DOWN" "$TMP/weir.log" ||
	fail "killed backend was not marked DOWN"
before=$(served_by "$port2")
clients 16 45
awk '$1 > 15 && $2 != 0 { bad = bad " " $1 } END { if (bad) { print bad; exit 1 } }' \
	"$TMP/results" >"$TMP/bad" || fail "clients failed after the backend went down:$(cat "$TMP/bad")"
[ "$(served_by "$port2")" -eq "$before" ] || fail "a DOWN backend was given clients"
[ "$(grep -c "is DOWN" "$TMP/weir.log")" -eq 1 ] || fail "the state change was not logged exactly once"

# It returns on the same port: UP after two passed checks, and served again.
"$TCPKIT" server "127.0.0.1:$port2" --port-file "$TMP/b2back.port" --mode echo \
	2>>"$TMP/b2back.log" &
PIDS="$PIDS $!"
wait_for test -s "$TMP/b2back.port" || fail "could not restart backend 2 on its port"
wait_for grep -q "server default/127.0.0.1:$port2 is UP (2/2 checks passed)" "$TMP/weir.log" ||
	fail "returning backend was not marked UP after 2 checks"
clients 46 60
[ "$(served_by "$port2")" -gt "$before" ] || fail "the returned backend got no clients"

# Every backend down: clients are closed at once, and the fact is logged once.
for p in $PIDS; do
	[ "$p" = "$WEIR_PID" ] || kill "$p" 2>/dev/null || true
done
wait_for grep -q "no server is UP" "$TMP/weir.log" || fail "all-down was not logged"
refused_within 1000 "with every backend down"
ms=$ELAPSED_MS
wait_for grep -q "end=no-server" "$TMP/weir.log" || fail "no-server close not logged"

# One comes back: weir recovers by itself.
"$TCPKIT" server "127.0.0.1:$port3" --port-file "$TMP/b3back.port" --mode echo \
	2>>"$TMP/b3back.log" &
PIDS="$PIDS $!"
wait_for grep -q "server default/127.0.0.1:$port3 is UP" "$TMP/weir.log" || fail "no recovery"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 5 >/dev/null ||
	fail "no client served after a backend returned"
stop_weir

# A send/expect check: the echo server answers 'ping' with 'ping', so expecting it passes...
# (With a 200 ms check timeout a failing check would be DOWN within about 0.6 s.)
start_weir -b "127.0.0.1:$port3" --health-check tcp --health-interval 100ms --fall 2 \
	--health-timeout 200ms --health-send 'ping\r\n' --health-expect 'ping\r'
sleep 1
! grep -q "is DOWN" "$TMP/weir.log" || fail "a server answering the expected reply went DOWN"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 5 >/dev/null ||
	fail "not served with a passing send/expect check"
stop_weir
# ...and expecting something else fails it.
start_weir -b "127.0.0.1:$port3" --health-check tcp --health-interval 100ms --fall 2 \
	--health-timeout 200ms --health-send 'ping\n' --health-expect 'pong'
wait_for grep -q "server default/127.0.0.1:$port3 is DOWN (check timed out, 2/2)" "$TMP/weir.log" ||
	fail "a server giving the wrong reply was not marked DOWN"
stop_weir

# With active checks, checks alone decide: a server whose application check fails (it echoes
# PING where PONG is expected) goes DOWN even while a client connects every 100 ms, and no
# client success brings it back.
start_weir -b "127.0.0.1:$port3" --health-check tcp --health-interval 300ms --fall 2 \
	--health-timeout 200ms --health-send 'PING\n' --health-expect 'PONG'
(
	end=$(($(date +%s) + 8))
	while [ "$(date +%s)" -lt "$end" ]; do
		"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 2 >/dev/null 2>&1 || true
		sleep 0.1
	done
) &
clients=$!
PIDS="$PIDS $clients"
start=$(date +%s%N)
n=0
until grep -q "server default/127.0.0.1:$port3 is DOWN" "$TMP/weir.log"; do
	[ "$n" -lt 30 ] || fail "a failing application check was masked by clients that could connect"
	sleep 0.1
	n=$((n + 1))
done
down_ms=$((($(date +%s%N) - start) / 1000000))
sleep 1
! grep -q "server default/127.0.0.1:$port3 is UP" "$TMP/weir.log" || fail "a client's connect brought a failing server UP"
kill "$clients" 2>/dev/null || true
reap "$clients" 50 "the clients"
stop_weir

# A unix server whose backlog is full answers connect with EAGAIN: its clients wait a moment
# and are served once it accepts again; it is not counted as failing or marked DOWN.
"$TCPKIT" server "unix:$TMP/busy.sock" --port-file "$TMP/busy.port" --mode echo --backlog 2 \
	2>>"$TMP/busy.log" &
busy=$!
PIDS="$PIDS $busy"
wait_for test -s "$TMP/busy.port" || fail "the unix server did not start"
start_weir -b "unix:$TMP/busy.sock" --fall 2 --connect-timeout 5s
kill -STOP "$busy"
for i in 1 2 3 4 5 6 7 8 9 10; do
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 4k --timeout 15 >"$TMP/burst$i.out" 2>&1 &
	eval "burst$i=\$!"
	PIDS="$PIDS $!"
done
sleep 1
kill -CONT "$busy"
for k in 1 2 3 4 5 6 7 8 9 10; do
	eval "pid=\$burst$k"
	reap "$pid" 150 "client $k of the burst"
	[ "$REAPED" -eq 0 ] || fail "client $k of the burst failed: $(cat "$TMP/burst$k.out")"
done
! grep -q "is DOWN" "$TMP/weir.log" || fail "a full backlog marked the server DOWN"
! grep -q "connect to default/unix:$TMP/busy.sock failed" "$TMP/weir.log" ||
	fail "a full backlog was counted as a failed connect"
stop_weir

# A reload replaces a black hole with a live server while a client's connect to the hole is
# in flight: that connect times out in the old configuration, which says nothing of the new
# one, so no "no server is UP" is logged, and new clients are served.
start_server live echo
live=$SERVER_PORT
start_server hole blackhole
printf '[frontend f]\nlisten = 127.0.0.1:0\nbackend = b\n[backend b]\nconnect-timeout = 1s\n' \
	>"$TMP/weir.conf"
printf 'fall = 1\nretries = 0\nserver = 127.0.0.1:%s\n' "$SERVER_PORT" >>"$TMP/weir.conf"
start_weir_conf "$TMP/weir.conf"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 10 >/dev/null 2>&1 &
stuck=$!
PIDS="$PIDS $stuck"
wait_for connecting_to "$SERVER_PORT" || fail "weir's connect to the black hole is not under way"
sed -i "s/^server = .*/server = 127.0.0.1:$live/" "$TMP/weir.conf"
kill -HUP "$WEIR_PID"
wait_for logged_at_least 1 "reloaded:" || fail "the reload was not applied"
reap "$stuck" 50 "the client whose connect hung"
wait_for logged_at_least 1 "is DOWN" || fail "the hole's connect timeout did not mark it DOWN"
served "after the reload"
! grep -q "no server is UP" "$TMP/weir.log" ||
	fail "a failure in the old configuration said no server is UP: $(grep "no server" "$TMP/weir.log")"
stop_weir
echo "health ok (all-down client closed after $ms ms; failing check DOWN after $down_ms ms under traffic)"
