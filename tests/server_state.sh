#!/bin/sh
# Server state stays right across reloads (SIGHUP): a server's open-connection count goes
# back to 0 when its clients leave, however many reloads came between (never wraps, never
# leaks a slot), so maxconn keeps admitting; a client waiting for a slot is let in as soon as
# capacity appears (a server coming UP, a reload raising maxconn), first come first served;
# the frontend counters in /metrics never go backwards and count connections that span a
# reload; a server listed twice keeps both counts right.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

# log_ms PATTERN: the time of day, in ms, of the first line of weir's log matching PATTERN.
log_ms() {
	grep -m 1 -- "$1" "$TMP/weir.log" |
		awk '{ split(substr($1, 12, 12), t, /[:.Z]/); print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4] }'
}

# ms_between FROM TO: TO - FROM, for times of day in ms (across midnight too). TO may be
# logged a little before FROM by another thread (a worker serves the client while the main
# thread is still about to log the event that let it in): that counts as 0.
ms_between() {
	d=$((($2 - $1 + 86400000) % 86400000))
	[ "$d" -lt 43200000 ] || d=0
	echo "$d"
}

# conf FILE SERVER_LINES...: frontend web on 127.0.0.1:0, backend app with these lines,
# stats on 127.0.0.1:0.
conf() {
	file=$1
	shift
	{
		printf '[global]\nstats = 127.0.0.1:0\n'
		printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n'
		echo "[backend app]"
		for l in "$@"; do echo "$l"; done
	} >"$file"
}

# start FILE: weir from FILE (debug log); then FILE names the port weir chose, so a reload
# of FILE keeps the listener. (The stats line stays: it changes only on restart.)
start() {
	start_weir_conf "$1" --log-level debug
	wait_for grep -q "stats on 127.0.0.1:" "$TMP/weir.log" || fail "no stats endpoint"
	sed -i "s/^listen = 127\.0\.0\.1:0$/listen = 127.0.0.1:$WEIR_PORT/" "$1"
}

# reload N: SIGHUP, and the Nth "reloaded:" line must follow.
reload() {
	kill -HUP "$WEIR_PID"
	wait_for logged_at_least "$1" "reloaded:" || fail "reload $1 did not happen"
}

conns() { # PORT[#N]: the series of the open connections of that server of backend app
	echo "weir_server_connections{backend=\"app\",server=\"127.0.0.1:$1\"}"
}

# conns_zero PORT: that server's count is 0, on every line it has.
conns_zero() {
	metric "$(conns "$1")" >"$TMP/conns"
	[ -s "$TMP/conns" ] && ! grep -vqx 0 "$TMP/conns"
}

# ---- 1. The count cannot wrap: a reload while a client holds the slot and one waits.
start_server one echo
p=$SERVER_PORT
conf "$TMP/one.conf" "server = 127.0.0.1:$p maxconn=1" "connect-timeout = 5s"
start "$TMP/one.conf"
hold_client holder
holder=$HELD
start_waiting_client "$TMP/waiter.out" "past maxconn=1"
waiter=$WAITER
reload 1
kill -0 "$waiter" 2>/dev/null || fail "the waiting client got through maxconn=1 at the reload"
release "$holder" "the holding client"
reap "$waiter" 50 "the waiting client (once the holder left)"
[ "$REAPED" -eq 0 ] || fail "the waiting client failed: $(cat "$TMP/waiter.out")"
wait_for closed_at_least 2 || fail "the two clients did not both close"
wait_for metric_is "$(conns "$p")" 0 ||
	fail "server count after every client left: $(metric "$(conns "$p")"), expected 0"
t0=$(now_ms)
served "after the reload, with the server empty"
at_once=$(($(now_ms) - t0))
[ "$at_once" -lt 1000 ] || fail "a client of an empty server took $at_once ms (queued?)"
! grep -q "end=queue-timeout" "$TMP/weir.log" || fail "a client timed out in the queue"
wait_for metric_is "$(conns "$p")" 0 || fail "server count not 0 after the last client"
stop_weir

# ---- 2. Many reloads under traffic: every count returns to 0. The reloads take about 2 s
# with sanitizers; the load runs 6 s, and the reloads done while it ran are counted.
ports=""
for s in 1 2 3; do
	start_server "m$s" echo
	ports="$ports $SERVER_PORT"
done
set -- "connect-timeout = 5s"
for p in $ports; do set -- "$@" "server = 127.0.0.1:$p maxconn=2"; done
conf "$TMP/many.conf" "$@"
start "$TMP/many.conf"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode connect --connections 8 --duration 6 \
	--timeout 40 >"$TMP/load.out" 2>&1 &
load=$!
PIDS="$PIDS $load"
wait_for closed_at_least 20 || fail "the load did not start"
t0=$(now_ms)
n=0
under_load=0
while [ "$n" -lt 150 ]; do
	n=$((n + 1))
	kill -HUP "$WEIR_PID"
	i=0
	until logged_at_least "$n" "reloaded:"; do
		[ "$i" -lt 500 ] || fail "reload $n did not happen within 5 s"
		sleep 0.01
		i=$((i + 1))
	done
	! kill -0 "$load" 2>/dev/null || under_load=$n
done
reload_ms=$(($(now_ms) - t0))
[ "$under_load" -ge 50 ] || fail "only $under_load of $n reloads were done while the load ran"
reap "$load" 100 "the connect load"
# Every server is UP throughout: a client finding them all full waits, even when a slot
# frees on another worker between its pick and its turn in the queue.
! grep -q "end=no-server" "$TMP/weir.log" || fail "a client was refused with servers UP"
[ "$REAPED" -eq 0 ] || fail "a client failed during the reloads: $(cat "$TMP/load.out")"
for p in $ports; do
	wait_for metric_is "$(conns "$p")" 0 ||
		fail "after $n reloads, server $p has $(metric "$(conns "$p")") connections, expected 0"
done
rate=$(sed -n 's/^connect: .*, \([0-9.]*\) conn\/s$/\1/p' "$TMP/load.out")
[ -n "$rate" ] || fail "no summary from the load: $(cat "$TMP/load.out")"
! grep -q "end=queue-timeout" "$TMP/weir.log" || fail "a client timed out in the queue"
# Every slot is free again: six clients held at once (maxconn=2 on three servers).
hold_client six 6
release "$HELD" "the six held clients"
stop_weir

# ---- 3. A queued client is let in as soon as a server comes UP.
start_server a echo
pa=$SERVER_PORT
start_server_on "$(free_port)" b echo
pb=$SERVER_PORT
kill "$SERVER_PID"
reap "$SERVER_PID" 50 "server b (stopped so that it is DOWN at first)"
conf "$TMP/up.conf" "server = 127.0.0.1:$pa maxconn=1" "server = 127.0.0.1:$pb" \
	"connect-timeout = 6s" "health-check = tcp" "health-interval = 200ms" "rise = 1" "fall = 1"
start "$TMP/up.conf"
wait_for grep -q "server app/127.0.0.1:$pb is DOWN" "$TMP/weir.log" || fail "server b not DOWN"
hold_client holder
holder=$HELD
start_waiting_client "$TMP/queued.out" "with server a full and server b DOWN"
queued=$WAITER
"$TCPKIT" server "127.0.0.1:$pb" --port-file "$TMP/bback.port" --mode echo \
	2>>"$TMP/bback.log" &
PIDS="$PIDS $!"
wait_for test -s "$TMP/bback.port" || fail "could not restart server b on its port"
wait_for grep -q "server app/127.0.0.1:$pb is UP" "$TMP/weir.log" || fail "server b did not come UP"
reap "$queued" 15 "the queued client (once server b came UP; the queue timeout is 6 s)"
[ "$REAPED" -eq 0 ] || fail "the queued client failed: $(cat "$TMP/queued.out")"
wait_for closed_at_least 1 || fail "the queued client's close was not logged"
line=$(closed_lines | head -n 1)
echo "$line" | grep -q " server=127.0.0.1:$pb server_name=[^ ]* end=client-closed " ||
	fail "the queued client was not served by server b: $line"
up_wait=$(ms_between "$(log_ms "server app/127.0.0.1:$pb is UP")" "$(log_ms " closed client=")")
[ "$up_wait" -lt 1500 ] || fail "the queued client was served $up_wait ms after server b came UP"
queued_ms=$(echo "$line" | sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p')
release "$holder" "the holding client"
stop_weir

# ---- 4. A reload raising maxconn lets a waiting client in at once.
conf "$TMP/raise.conf" "server = 127.0.0.1:$pa maxconn=1" "connect-timeout = 10s"
start "$TMP/raise.conf"
hold_client holder
holder=$HELD
start_waiting_client "$TMP/raise.out" "past maxconn=1"
waiter=$WAITER
sed -i 's/ maxconn=1$/ maxconn=10/' "$TMP/raise.conf"
reload 1
reap "$waiter" 10 "the waiting client (after a reload raised maxconn to 10)"
[ "$REAPED" -eq 0 ] || fail "the waiting client failed: $(cat "$TMP/raise.out")"
wait_for closed_at_least 1 || fail "the waiting client's close was not logged"
raise_wait=$(ms_between "$(log_ms "SIGHUP: reloading")" "$(log_ms " closed client=")")
[ "$raise_wait" -lt 1000 ] || fail "the waiting client was served $raise_wait ms after the reload"
release "$holder" "the holding client"
stop_weir

# ---- 5. Waiting clients are let in in the order they came. The second, once served, holds
# its connection: had it gone first, the first could not be served at all (maxconn=1). (The
# order of the closed lines would not tell: a slot is given up before its line is written,
# so the next client may be served and logged first.)
conf "$TMP/order.conf" "server = 127.0.0.1:$pa maxconn=1" "connect-timeout = 20s"
start "$TMP/order.conf"
hold_client holder
holder=$HELD
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 30 >"$TMP/w1.out" 2>&1 &
w1=$!
PIDS="$PIDS $w1"
waiting='weir_backend_queued{backend="app"}'
wait_for metric_is "$waiting" 1 || fail "the first client is not waiting: queued $(metric "$waiting")"
rm -f "$TMP/w2.ready"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode hold --ready-file "$TMP/w2.ready" --timeout 60 \
	>/dev/null 2>&1 &
w2=$!
PIDS="$PIDS $w2"
wait_for metric_is "$waiting" 2 || fail "the second client is not waiting: queued $(metric "$waiting")"
kill -0 "$w1" 2>/dev/null && [ ! -s "$TMP/w2.ready" ] || fail "a client got through maxconn=1"
release "$holder" "the holding client"
reap "$w1" 100 "the first waiting client (was the second served before it?)"
[ "$REAPED" -eq 0 ] || fail "the first waiting client failed: $(cat "$TMP/w1.out")"
wait_for test -s "$TMP/w2.ready" || fail "the second waiting client was not served after the first"
release "$w2" "the second waiting client"
stop_weir

# ---- 6. Frontend metrics across a reload: a connection open across it is counted, and no
# counter goes backwards. The server is stopped (SIGSTOP) while the 2 MB exchange starts, so
# the connection is certainly open at the reload; it finishes once the server resumes.
start_server big echo
pbig=$SERVER_PORT
bigpid=$SERVER_PID
conf "$TMP/fe.conf" "server = 127.0.0.1:$pbig"
start "$TMP/fe.conf"
gauge='weir_frontend_connections{frontend="web"}'
total='weir_frontend_connections_total{frontend="web"}'
to_client='weir_frontend_bytes_total{frontend="web",direction="to_client"}'
to_server='weir_frontend_bytes_total{frontend="web",direction="to_server"}'
served "before the reload"
wait_for metric_is "$gauge" 0 || fail "gauge after the first client: $(metric "$gauge")"
total0=$(metric "$total")
bytes0=$(metric "$to_client")
[ "$total0" -eq 1 ] && [ "$bytes0" -eq 65536 ] ||
	fail "before the reload: total $total0, to_client $bytes0; expected 1 and 65536"
resume() { kill -CONT "$bigpid" 2>/dev/null || true; }
kill -STOP "$bigpid"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 2m --timeout 60 >"$TMP/big.out" 2>&1 &
big=$!
PIDS="$PIDS $big"
wait_for metric_is "$gauge" 1 || { resume; fail "the 2 MB connection is not counted open"; }
reload 1
kill -0 "$big" 2>/dev/null || { resume; fail "the 2 MB connection ended before the reload"; }
g=$(metric "$gauge")
t=$(metric "$total")
b=$(metric "$to_client")
resume
[ "$g" = 1 ] || fail "after the reload, with one connection open, $gauge is $g, expected 1"
[ "$t" -ge 2 ] || fail "$total went from $total0 to $t across the reload (2 accepted)"
[ "$b" -ge "$bytes0" ] || fail "$to_client went from $bytes0 to $b across the reload"
reap "$big" 300 "the 2 MB client (once its server resumed)"
[ "$REAPED" -eq 0 ] || fail "the 2 MB exchange across the reload broke: $(cat "$TMP/big.out")"
wait_for metric_is "$gauge" 0 || fail "$gauge after the connection closed: $(metric "$gauge")"
wait_for closed_at_least 2 || fail "the 2 MB connection's close was not logged"
b=$(metric "$to_client")
s=$(metric "$to_server")
[ "$b" -ge $((65536 + 2097152)) ] ||
	fail "$to_client is $b after a 2 MB connection across the reload; expected >= 2162688"
[ "$s" -ge $((65536 + 2097152)) ] ||
	fail "$to_server is $s after a 2 MB connection across the reload; expected >= 2162688"
t=$(metric "$total")
for r in 2 3 4; do
	reload "$r"
	t2=$(metric "$total")
	[ "$t2" -ge "$t" ] || fail "$total went from $t to $t2 across reload $r"
	t=$t2
	b2=$(metric "$to_client")
	[ "$b2" -ge "$b" ] || fail "$to_client went from $b to $b2 across reload $r"
	b=$b2
done
[ "$t" -eq 2 ] || fail "$total is $t after 2 connections and 4 reloads"
stop_weir

# ---- 7. A server listed twice: each copy's count returns to 0 after a reload.
conf "$TMP/dup.conf" "server = 127.0.0.1:$pa" "server = 127.0.0.1:$pa"
start "$TMP/dup.conf"
dups() { # the counts of both copies, as their series name them (the second numbered #2)
	metric "$(conns "$pa")"
	metric "$(conns "$pa#2")"
}
dups_zero() { conns_zero "$pa" && conns_zero "$pa#2"; }
[ "$(dups | wc -l)" -eq 2 ] || fail "the duplicate is not listed twice: $(dups)"
hold_client dup 2
dup=$HELD
dups | tr '\n' ' ' >"$TMP/dup.before"
[ "$(cat "$TMP/dup.before")" = "1 1 " ] ||
	fail "two held clients on the duplicates: counts $(cat "$TMP/dup.before"), expected 1 1"
reload 1
release "$dup" "the two held clients"
wait_for closed_at_least 2 || fail "the two clients did not both close"
wait_for dups_zero ||
	fail "after a reload, the duplicated server's counts are $(dups | tr '\n' ' ')"
served "by the duplicated server after the reload"
stop_weir

echo "server state ok ($n reloads in $reload_ms ms, $under_load under $rate conn/s;" \
	"queued client served $up_wait ms after server b came UP, waited $queued_ms ms in all;" \
	"after a maxconn raise in $raise_wait ms)"
