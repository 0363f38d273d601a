#!/bin/sh
# Many clients push tens of MB each way at once; every byte must come back unchanged. Then the
# same over IPv6 and unix sockets, and weir exits 0 on SIGTERM.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

conns=24
bytes=16m
expect_bytes=16777216
if [ "$WEIR_SANITIZED" = yes ]; then
	conns=12
	bytes=4m
	expect_bytes=4194304
fi

start_server echo echo
start_weir -b "127.0.0.1:$SERVER_PORT"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode echo --connections "$conns" --bytes "$bytes" \
	--timeout 120 || fail "bytes differ or a connection failed through weir"

wait_for closed_at_least "$conns" || fail "expected $conns closed lines"
ok=$(closed_lines | grep -c "end=client-closed .* to_server=$expect_bytes to_client=$expect_bytes ")
[ "$ok" -eq "$conns" ] || fail "only $ok of $conns log lines show a full, clean transfer"

# The same through an IPv6 listener and a unix-socket listener to a unix-socket backend.
"$TCPKIT" server "unix:$TMP/backend.sock" --port-file "$TMP/ub.port" --mode echo \
	2>>"$TMP/ub.log" &
PIDS="$PIDS $!"
wait_for test -s "$TMP/ub.port" || fail "unix echo server did not start"
stop_weir
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	start_weir -l '[::1]:0' -l "unix:$TMP/front.sock" -b "unix:$TMP/backend.sock"
	v6port=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\).*/\1/p' "$TMP/weir.log" | head -n 1)
	"$TCPKIT" client "[::1]:$v6port" --connections 4 --bytes 2m --timeout 60 ||
		fail "IPv6 client through weir failed"
else
	echo "no ::1 on this machine: IPv6 listener not tested"
	start_weir -l "unix:$TMP/front.sock" -b "unix:$TMP/backend.sock"
fi
"$TCPKIT" client "unix:$TMP/front.sock" --connections 4 --bytes 2m --timeout 60 ||
	fail "unix-socket client through weir failed"
stop_weir
echo "relay ok"
