#!/bin/sh
# SIGTERM during a transfer: weir stops listening at once but lets the transfer finish with
# every byte intact, then exits 0. A second SIGTERM cuts what is left and exits at once; so
# does the drain timeout. A cut reaches the client as a reset, never as a clean end of a
# stream it could take for complete, and the log says which cut it was.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server source send --bytes 40m

# transfer_then_term RATE [WEIR ARGS...]: start weir, a client reading 40 MB at RATE, and
# SIGTERM weir once the transfer has reached the server. Sets CLIENT.
transfer_then_term() {
	rate=$1
	shift
	start_weir -b "127.0.0.1:$SERVER_PORT" "$@"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate "$rate" --expect 40m \
		--timeout 60 >"$TMP/client.out" 2>&1 &
	CLIENT=$!
	PIDS="$PIDS $CLIENT"
	wait_for connected_to "$SERVER_PORT" || fail "the transfer did not reach the server"
	kill -TERM "$WEIR_PID"
	wait_for grep -q "draining 1 connections" "$TMP/weir.log" || fail "drain did not start"
}

transfer_then_term 20m
# New clients are refused, not queued.
if "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 5 >/dev/null 2>&1; then
	fail "a new client was served while draining"
fi
kill -0 "$WEIR_PID" 2>/dev/null || fail "weir exited before the transfer finished"
reap "$CLIENT" 300 "the draining transfer"
[ "$REAPED" -eq 0 ] || fail "transfer broken by the drain: $(cat "$TMP/client.out")"
reap "$WEIR_PID" 50 "weir (after its last connection finished)"
[ "$REAPED" -eq 0 ] || fail "weir exited $REAPED after draining"
grep -q "drained all 1 connections" "$TMP/weir.log" || fail "the drain was not logged"

# A second SIGTERM: stop now.
transfer_then_term 1m
kill -TERM "$WEIR_PID"
reap "$WEIR_PID" 10 "weir (after a second SIGTERM)"
[ "$REAPED" -eq 0 ] || fail "weir exited $REAPED after the second SIGTERM"
grep -q "stopping now: drained 0 connections, cutting 1" "$TMP/weir.log" ||
	fail "the cut was not logged"
reap "$CLIENT" 50 "the cut client"
grep -qi "reset" "$TMP/client.out" || fail "the stopped connection was not reset: $(cat "$TMP/client.out")"
closed_lines | grep -q "end=shutdown" || fail "the cut was not logged as end=shutdown"

# The drain timeout cuts a connection that will not finish in time.
transfer_then_term 1m --drain-timeout 500ms
reap "$WEIR_PID" 30 "weir (past its drain timeout)"
[ "$REAPED" -eq 0 ] || fail "weir exited $REAPED after the drain timeout"
grep -q "drain timeout: drained 0 connections, cutting 1" "$TMP/weir.log" ||
	fail "the drain timeout was not logged"
reap "$CLIENT" 50 "the cut client"
grep -qi "reset" "$TMP/client.out" || fail "the drain deadline did not reset: $(cat "$TMP/client.out")"
closed_lines | grep -q "end=drain-timeout" || fail "the cut was not logged as end=drain-timeout"
echo "drain ok"
