#!/bin/sh
# Half-close: the client sends its request and shuts its write side; weir passes the EOF on and
# the server's whole answer, sent after it saw EOF, still reaches the client.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server answer sink-send --bytes 5m
start_weir -b "127.0.0.1:$SERVER_PORT"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode half-close --bytes 1m --expect 5m --timeout 60 ||
	fail "half-closed client did not get the full answer"
wait_for closed_at_least 1 || fail "no closed line"
closed_lines | grep -q "end=client-closed .*to_server=1048576 to_client=5242880 " ||
	fail "log line does not show client EOF first with both byte counts"
stop_weir
echo "half-close ok"
