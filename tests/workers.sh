#!/bin/sh
# Two workers (-w 2), each an event loop on a thread of its own:
#  - clients are spread over both (each worker's share is in /stats), and are served by both;
#  - --max-connections and a server's maxconn hold exactly across workers: the clients past
#    them wait (in the backlog, or in weir's queue), none is let through by the other worker;
#  - a reload while both workers relay: every transfer finishes intact on its old server and
#    new clients follow the new configuration, on both workers;
#  - a drain while both workers relay: every transfer finishes, weir exits 0;
#  - a slot freed on one worker serves a client waiting for it on the other at once;
#  - health checks run once per server, not once per worker.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
command -v jq >/dev/null || skip "jq is needed to read /stats"

start_server echo echo
echo_port=$SERVER_PORT

stats() { # the /stats document
	http_get "$(stats_port)" /stats
}

# --- spread --------------------------------------------------------------------------------
start_weir -b "127.0.0.1:$echo_port" -w 2 --stats 127.0.0.1:0
grep -q "2 worker(s)" "$TMP/weir.log" || fail "weir did not start two workers"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode connect --connections 8 --duration 2 \
	>"$TMP/connect.out" || fail "clients failed: $(cat "$TMP/connect.out")"
stats >"$TMP/stats.json"
a0=$(jq '.workers[0].accepted' "$TMP/stats.json")
a1=$(jq '.workers[1].accepted' "$TMP/stats.json")
total=$(jq '.frontends[0].total' "$TMP/stats.json")
echo "spread: worker 0 accepted $a0, worker 1 accepted $a1 ($total in all)"
[ $((a0 + a1)) -eq "$total" ] || fail "the workers' counts ($a0 + $a1) are not the total $total"
[ "$total" -ge 100 ] || fail "only $total clients in 2 s"
# The kernel hashes each client's address and port onto the workers' sockets.
[ $((a0 * 5)) -ge "$total" ] && [ $((a1 * 5)) -ge "$total" ] ||
	fail "clients were not spread over both workers: $a0 and $a1"
stop_weir

# flood N: N clients at once, those served held for 2 s; /stats as it was while they were
# held goes to $TMP/stats.json, the counts to $TMP/flood.out; sets C0 and C1, each worker's
# open connections.
flood() {
	rm -f "$TMP/flooded"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode flood --connections "$1" --timeout 2 \
		--duration 2 --ready-file "$TMP/flooded" >"$TMP/flood.out" 2>&1 &
	flood=$!
	PIDS="$PIDS $flood"
	wait_for test -s "$TMP/flooded" || fail "the flood did not finish"
	stats >"$TMP/stats.json"
	C0=$(jq '.workers[0].connections' "$TMP/stats.json")
	C1=$(jq '.workers[1].connections' "$TMP/stats.json")
	reap "$flood" 100 "the flood"
}

# --- max-connections across workers ---------------------------------------------------------
start_weir -b "127.0.0.1:$echo_port" -w 2 --max-connections 10 --stats 127.0.0.1:0
flood 40
open=$(jq '.frontends[0].connections' "$TMP/stats.json")
echo "max-connections 10: $(cat "$TMP/flood.out"); open $open ($C0 + $C1)"
grep -q "40 connections, 10 served, 0 closed, 30 hung" "$TMP/flood.out" ||
	fail "max-connections 10 did not hold across workers: $(cat "$TMP/flood.out")"
[ "$open" -eq 10 ] || fail "$open connections open at a limit of 10"
grep -q "10 connections open: not accepting until some close" "$TMP/weir.log" ||
	fail "the limit was not logged"
# The clients that waited in the backlog are served once the others are gone.
wait_for grep -q "below 10 connections: accepting again" "$TMP/weir.log" ||
	fail "accepting did not resume"
served "after the limit lifted"
stop_weir

# --- a server's maxconn across workers ------------------------------------------------------
start_weir -b "127.0.0.1:$echo_port,maxconn=3" -w 2 --stats 127.0.0.1:0 --connect-timeout 10s
flood 16
active=$(jq '.backends[0].servers[0].connections' "$TMP/stats.json")
queued=$(jq '.backends[0].queued' "$TMP/stats.json")
echo "maxconn 3: $(cat "$TMP/flood.out"); server connections $active, queued $queued, per worker $C0 + $C1"
grep -q "16 connections, 3 served, 0 closed, 13 hung" "$TMP/flood.out" ||
	fail "maxconn 3 did not hold across workers: $(cat "$TMP/flood.out")"
[ "$active" -eq 3 ] && [ "$queued" -eq 13 ] ||
	fail "the server had $active connections and $queued waiting, expected 3 and 13"
[ "$C0" -gt 0 ] && [ "$C1" -gt 0 ] || fail "the clients were all on one worker: $C0 and $C1"
stop_weir

# --- reload and drain with both workers relaying ----------------------------------------------
start_server a send --bytes 6m --seed 1
port_a=$SERVER_PORT
start_server b send --bytes 6m --seed 1
port_b=$SERVER_PORT
printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n[backend app]\nserver = 127.0.0.1:%s\n' \
	"$port_a" >"$TMP/weir.conf"
start_weir_conf "$TMP/weir.conf" -w 2 --stats 127.0.0.1:0

# slow_readers N: N clients each reading the 6 MB at 3 MB/s (about 2 s), in the background.
slow_readers() {
	READERS=""
	for i in $(seq 1 "$1"); do
		"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate 3m --expect 6m \
			--timeout 30 >/dev/null 2>"$TMP/reader$i.err" &
		READERS="$READERS $!"
		PIDS="$PIDS $!"
	done
}
# on_both_workers [N]: every worker has connections open now (and N in all).
on_both_workers() {
	stats >"$TMP/stats.json"
	[ "$(jq '[.workers[].connections | select(. > 0)] | length' "$TMP/stats.json")" -eq 2 ] &&
		{ [ -z "${1:-}" ] || [ "$(jq '.frontends[0].connections' "$TMP/stats.json")" -eq "$1" ]; }
}
# readers_intact WHAT: every reader got all its bytes, in order.
readers_intact() {
	for p in $READERS; do
		reap "$p" 200 "a slow reader"
		[ "$REAPED" -eq 0 ] || fail "a transfer $1 was cut or corrupted: $(cat "$TMP"/reader*.err)"
	done
}

slow_readers 12
wait_for on_both_workers 12 ||
	fail "the readers are not all in, on both workers: $(jq -c .workers "$TMP/stats.json")"
sed -i "s/127.0.0.1:$port_a/127.0.0.1:$port_b/" "$TMP/weir.conf"
sed -i "s/^listen = 127.0.0.1:0/listen = 127.0.0.1:$WEIR_PORT/" "$TMP/weir.conf"
kill -HUP "$WEIR_PID"
wait_for grep -q "reloaded:" "$TMP/weir.log" || fail "no reload"
on_both_workers || fail "the reload cut connections: $(jq -c .workers "$TMP/stats.json")"
before=$(closed_lines | wc -l)
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode connect --connections 4 --duration 1 \
	>/dev/null 2>&1 || true # the send server does not echo: these only need to arrive
readers_intact "across the reload"
new=$(closed_lines | tail -n +"$((before + 1))")
echo "$new" | grep -q "server=127.0.0.1:$port_b " || fail "no new client reached the new server"
echo "$new" | grep "server=127.0.0.1:$port_a " | grep -qv "to_client=6291456" &&
	fail "a new client went to the removed server"
# whole_on PORT N: weir logged N transfers of all 6 MB from the server on PORT.
whole_on() {
	[ "$(closed_lines | grep "server=127.0.0.1:$1 " | grep -c "to_client=6291456")" -eq "$2" ]
}
wait_for whole_on "$port_a" 12 || fail "not every transfer on the old server finished whole"

slow_readers 12
wait_for on_both_workers 12 || fail "the readers are not all in, on both workers"
kill -TERM "$WEIR_PID"
wait_for grep -q "draining 12 connections" "$TMP/weir.log" || fail "the drain did not start"
readers_intact "during the drain"
reap "$WEIR_PID" 100 "weir (draining)"
[ "$REAPED" -eq 0 ] || fail "weir exited $REAPED after draining"
grep -q "drained all 12 connections" "$TMP/weir.log" || fail "the drain was not logged whole"

# --- a slot freed on one worker serves a client waiting on the other ---------------------------
# Backends a and b, one server each at maxconn=1. Worker 0 holds b's slot and has a client of
# a waiting; worker 1 has a client of b waiting. When b's slot frees on worker 0, the client
# on worker 1 is served at once, though worker 0 has as many clients waiting as b has.
printf '[frontend fa]\nlisten = 127.0.0.1:0\nbackend = a\n[frontend fb]\nlisten = 127.0.0.1:0\nbackend = b\n' \
	>"$TMP/two.conf"
printf '[backend a]\nconnect-timeout = 20s\nserver = 127.0.0.1:%s maxconn=1\n' "$echo_port" >>"$TMP/two.conf"
printf '[backend b]\nconnect-timeout = 20s\nserver = 127.0.0.1:%s maxconn=1\n' "$echo_port" >>"$TMP/two.conf"
start_weir_conf "$TMP/two.conf" -w 2 --stats 127.0.0.1:0
port_fa=$(frontend_port fa)
port_fb=$(frontend_port fb)
[ -n "$port_fb" ] || fail "frontend fb did not start"
accepted() { # each worker's accepted count, "A0 A1"
	stats | jq -r '"\(.workers[0].accepted) \(.workers[1].accepted)"'
}
accepted_since() { [ "$(accepted)" != "$1" ]; }
# open_on WORKER PORT: a connection to PORT, nothing sent on it yet, that worker WORKER took
# (one another worker took is closed and another tried, at most 40). Sets ON_FD.
open_on() {
	try=0
	while [ "$try" -lt 40 ]; do
		try=$((try + 1))
		before=$(accepted)
		exec {ON_FD}<>"/dev/tcp/127.0.0.1/$2"
		wait_for accepted_since "$before" || fail "a client of port $2 was not accepted"
		after=$(accepted)
		if [ "$1" -eq 0 ] && [ "${after% *}" != "${before% *}" ]; then return 0; fi
		if [ "$1" -eq 1 ] && [ "${after#* }" != "${before#* }" ]; then return 0; fi
		exec {ON_FD}<&-
	done
	fail "40 clients of port $2 and none on worker $1"
}
waiting_are() { # JSON: the backends' waiting clients, e.g. [1,0]
	stats >"$TMP/stats.json"
	[ "$(jq -c '[.backends[].queued]' "$TMP/stats.json")" = "$1" ]
}
# echoed FD WHAT: 4 bytes sent on FD come back.
echoed() {
	printf ping >&"$1"
	[ "$(timeout 5 head -c 4 <&"$1")" = ping ] || fail "$2 was not relayed"
}
open_on 0 "$port_fb"
b_holder=$ON_FD
open_on 0 "$port_fa"
a_holder=$ON_FD # on worker 0 too: worker 1 has nothing else to do
open_on 0 "$port_fa"
a_waiter=$ON_FD
open_on 1 "$port_fb"
b_waiter=$ON_FD
wait_for waiting_are "[1,1]" ||
	fail "expected one client waiting for each backend: $(jq -c '[.backends[].queued]' "$TMP/stats.json")"
t0=$(now_ms)
exec {b_holder}<&-
wait_for waiting_are "[1,0]" || fail "the client waiting for b on worker 1 was not served"
waited=$(($(now_ms) - t0))
echo "a slot freed on worker 0 served a client waiting on worker 1 in $waited ms"
[ "$waited" -lt 3000 ] || fail "the client waiting on worker 1 was served $waited ms after b's slot freed"
echoed "$b_waiter" "the client served by b"
exec {a_holder}<&-
wait_for waiting_are "[0,0]" || fail "the client waiting for a was not served"
echoed "$a_waiter" "the client served by a"
exec {a_waiter}<&- {b_waiter}<&-
stop_weir

# --- health checks: once per server -------------------------------------------------------------
# Another weir stands in for the server, so that every check it receives is a log line.
: >"$TMP/server.log"
"$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$echo_port" -w 1 2>"$TMP/server.log" &
PIDS="$PIDS $!"
wait_for grep -q "listening on" "$TMP/server.log" || fail "the checked weir did not start"
checked=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/server.log")
start_weir -b "127.0.0.1:$checked" -w 2 --health-check tcp --health-interval 200ms
# Counted over a measured span, since a busy machine may stretch the sleep: once per
# interval is about span/200 checks (allowed: half that up to 1.4 times it, plus two); once
# per worker would be twice that.
c0=$(grep -c " closed client=" "$TMP/server.log" || true)
t0=$(now_ms)
sleep 2
checks=$(($(grep -c " closed client=" "$TMP/server.log" || true) - c0))
span=$(($(now_ms) - t0))
echo "health checks in $span ms at a 200 ms interval with 2 workers: $checks"
[ "$checks" -ge $((span / 400)) ] && [ "$checks" -le $((span * 14 / 2000 + 2)) ] ||
	fail "$checks checks in $span ms: not once per interval (twice would be about $((span / 100)))"
stop_weir
