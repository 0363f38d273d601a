#!/bin/sh
# A listener moved by a reload to an address that overlaps the one it had, and back:
# 127.0.0.1:P to 0.0.0.0:P to 127.0.0.1:P, then to every address (":P"). The new socket is
# bound while the old one still holds the port, so each reload applies (no EADDRINUSE), and
# the clients waiting in the old socket's queue when it closes are served, not reset. They
# wait there because --max-connections 1 is taken by a held client.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
write_conf() { # LISTEN
	printf '[global]\nmax-connections = 1\n[frontend web]\nlisten = %s\nbackend = app\n' "$1" \
		>"$TMP/weir.conf"
	printf '[backend app]\nserver = 127.0.0.1:%s\n' "$SERVER_PORT" >>"$TMP/weir.conf"
}
# queued N: N clients wait in the accept queue of weir's listener on $port.
queued() {
	[ "$(ss -Htln "sport = :$port" | awk '{ n += $2 } END { print n + 0 }')" -ge "$1" ]
}
write_conf 127.0.0.1:0
start_weir_conf "$TMP/weir.conf"
port=$WEIR_PORT

n=0
for listen in "0.0.0.0:$port" "127.0.0.1:$port" ":$port" "127.0.0.1:$port"; do
	n=$((n + 1))
	hold_client "holder$n"
	holder=$HELD
	waiters=""
	for i in 1 2 3; do
		"$TCPKIT" client "127.0.0.1:$port" --bytes 64k --timeout 20 >"$TMP/w$n.$i.out" 2>&1 &
		waiters="$waiters $!"
		PIDS="$PIDS $!"
	done
	wait_for queued 3 || fail "the clients are not waiting in the accept queue"
	write_conf "$listen"
	kill -HUP "$WEIR_PID"
	wait_for logged_at_least "$n" "reloaded: 1 frontend(s)" || fail "the move to $listen did not apply"
	release "$holder" "the holder before the move to $listen"
	for w in $waiters; do
		reap "$w" 100 "a client waiting in the queue during the move to $listen"
		[ "$REAPED" -eq 0 ] || fail "a client waiting during the move to $listen failed: $(cat "$TMP"/w$n.*.out)"
	done
	"$TCPKIT" client "127.0.0.1:$port" --bytes 64k --timeout 10 >/dev/null ||
		fail "no client served after the move to $listen"
done
! grep -q "reload failed" "$TMP/weir.log" || fail "$(grep "reload failed" "$TMP/weir.log")"
grep -q "listening on 0.0.0.0:$port (frontend web)" "$TMP/weir.log" || fail "never on 0.0.0.0:$port"
grep -q "listening on \[::\]:$port (frontend web)" "$TMP/weir.log" || fail "never on [::]:$port"
stop_weir
echo "listener moves ok"
