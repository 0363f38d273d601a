#!/bin/sh
# --max-connections 10: ten clients are served, the eleventh waits in the backlog and is
# served as soon as one of the ten closes.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
start_weir -b "127.0.0.1:$SERVER_PORT" --max-connections 10
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode hold --connections 10 \
	--ready-file "$TMP/held" --timeout 60 >/dev/null 2>&1 &
holder=$!
PIDS="$PIDS $holder"
wait_for test -s "$TMP/held" || fail "ten clients were not all served"

start_waiting_client "$TMP/eleventh" "while ten were open (max-connections 10)"
eleventh=$WAITER
grep -q "10 connections open: not accepting" "$TMP/weir.log" || fail "the limit was not logged"

kill -TERM "$holder"
reap "$holder" 50 "the holding client"
reap "$eleventh" 100 "the eleventh client (once the others left)"
[ "$REAPED" -eq 0 ] || fail "the eleventh client failed: $(cat "$TMP/eleventh")"
grep -q "accepting again" "$TMP/weir.log" || fail "resuming was not logged"
stop_weir

# waiter_served N WHAT: N clients take every slot, a client then waits (WHAT: for what), and
# it is served, every byte checked, once the N leave.
waiter_served() {
	hold_client held "$1"
	holder=$HELD
	start_waiting_client "$TMP/waiter" "$2"
	waiter=$WAITER
	kill -TERM "$holder"
	reap "$waiter" 100 "the waiting client ($2, once a slot freed up)"
	[ "$REAPED" -eq 0 ] || fail "the waiting client ($2) failed: $(cat "$TMP/waiter")"
	reap "$holder" 50 "the holding client"
}

# A server at its maxconn: a new client waits for a slot and is served when one frees up...
start_weir -b "127.0.0.1:$SERVER_PORT,maxconn=2" --connect-timeout 2s
waiter_served 2 "a server with maxconn=2"

# ...but is closed, not left hanging, when no slot frees up within the connect timeout.
hold_client two 2
holder=$HELD
start=$(date +%s%N)
if "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 10 >/dev/null 2>&1; then
	fail "a client got through a full server"
fi
waited=$((($(date +%s%N) - start) / 1000000))
[ "$waited" -ge 1500 ] && [ "$waited" -le 4000 ] ||
	fail "a client waited $waited ms for a full server, expected about 2000"
wait_for grep -q "end=queue-timeout" "$TMP/weir.log" || fail "no queue-timeout in the log"
kill -TERM "$holder"
reap "$holder" 50 "the holding client"
stop_weir

# What a waiting client sends is read ahead through a buffer of --buffer-size, which may be
# smaller than what is read ahead (up to 17 KiB): every byte still reaches the server, once.
start_weir -b "127.0.0.1:$SERVER_PORT,maxconn=1" --buffer-size 1k --connect-timeout 20s
waiter_served 1 "a server with maxconn=1, read ahead through 1k buffers"
stop_weir

# A reload that raises max-connections lets a waiting client in at once.
printf '[global]\nmax-connections = 1\n[frontend f]\nlisten = 127.0.0.1:0\nbackend = b\n[backend b]\nserver = 127.0.0.1:%s\n' \
	"$SERVER_PORT" >"$TMP/limit.conf"
start_weir_conf "$TMP/limit.conf"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEIR_PORT/" "$TMP/limit.conf"
rm -f "$TMP/held"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode hold --connections 1 --ready-file "$TMP/held" \
	--timeout 60 >/dev/null 2>&1 &
holder=$!
PIDS="$PIDS $holder"
wait_for test -s "$TMP/held" || fail "the first client was not served"
start_waiting_client "$TMP/second" "max-connections 1"
second=$WAITER
sed -i 's/^max-connections = 1$/max-connections = 100/' "$TMP/limit.conf"
kill -HUP "$WEIR_PID"
reap "$second" 50 "the waiting client (after max-connections was raised)"
[ "$REAPED" -eq 0 ] || fail "the waiting client failed after the reload"
kill -TERM "$holder"
reap "$holder" 50 "the holding client"
stop_weir
echo "max-connections ok (queue timeout after $waited ms)"
