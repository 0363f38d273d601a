#!/bin/sh
# A refused server is skipped and the next one serves; with every server down the client is
# closed promptly instead of hanging.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

# A port that refuses: open a server, note its port, stop it.
start_server gone echo
dead=$SERVER_PORT
kill "$SERVER_PID"
stop_wait "$SERVER_PID" 50 || fail "could not stop the placeholder server"
forget_pid "$SERVER_PID"

start_server live echo
start_weir -b "127.0.0.1:$dead" -b "127.0.0.1:$SERVER_PORT"
for i in 1 2 3 4 5 6; do
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 10 >/dev/null ||
		fail "client $i was not served by the live server"
done
grep -q "connect to default/127.0.0.1:$dead failed: connection refused" "$TMP/weir.log" ||
	fail "the refused connect was not logged"
stop_weir

# Every server refuses: the client is closed within a second, logged as connect-failed with
# the server that refused it.
start_weir -b "127.0.0.1:$dead,name=gone"
refused_within 2000 "with every server down"
wait_for grep -q "end=connect-failed" "$TMP/weir.log" || fail "no connect-failed log line"
grep -q "backend=default server=127.0.0.1:$dead server_name=gone end=connect-failed" \
	"$TMP/weir.log" || fail "connect-failed names no server: $(grep closed "$TMP/weir.log")"
stop_weir
echo "failover ok (all-down client closed after $ELAPSED_MS ms)"
