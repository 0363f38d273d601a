#!/bin/sh
# --idle-timeout 1s: a silent connection is closed after about a second, logged as idle; one
# that trickles a byte every 300 ms stays open for three seconds and gets every byte back.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
start_weir -b "127.0.0.1:$SERVER_PORT" --idle-timeout 1s

exec 4<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
start=$(date +%s%N)
exec 3<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
for i in $(seq 10); do
	printf x >&3 || fail "the trickling connection was closed after $i bytes"
	sleep 0.3
done
echoed=$(timeout 5 dd bs=1 count=10 <&3 2>/dev/null) || true
[ "$echoed" = xxxxxxxxxx ] || fail "the trickling connection got '$echoed' back"
exec 3<&-

# By now the silent connection has been cut, and the client sees a reset (not a clean end of
# stream it could take for a complete answer).
status=0
timeout 5 cat <&4 >/dev/null 2>"$TMP/silent.err" || status=$?
[ "$status" -ne 124 ] || fail "the silent connection was not closed"
grep -qi "reset" "$TMP/silent.err" || fail "the idle cut was not a reset: $(cat "$TMP/silent.err")"
exec 4<&-
wait_for grep -q "end=idle" "$TMP/weir.log" || fail "no idle close in the log"
line=$(grep "end=idle" "$TMP/weir.log" | head -n 1)
ms=$(echo "$line" | sed -n 's/.*duration_ms=\([0-9]*\).*/\1/p')
[ "$ms" -ge 900 ] && [ "$ms" -le 2500 ] || fail "silent connection lived $ms ms, expected about 1000"
[ "$(grep -c "end=idle" "$TMP/weir.log")" -eq 1 ] || fail "the trickling connection was expired too"

stop_weir

# Half-closed connections have their own timeout: the server sends 1 KiB and ends its
# stream, the client never ends its own, and the connection goes after the linger timeout.
start_server ends send --bytes 1k
start_weir -b "127.0.0.1:$SERVER_PORT" --idle-timeout 10s --linger-timeout 500ms
exec 5<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
timeout 5 dd bs=1k count=1 <&5 >/dev/null 2>&1 || fail "the 1 KiB answer did not arrive"
wait_for grep -q "end=linger" "$TMP/weir.log" || fail "the half-closed connection was not expired"
# The server's end arrived whole; the client's open direction was cut: writing fails.
sleep 0.2
if (printf x >&5) 2>/dev/null; then
	fail "the client could still write after the linger cut (no reset)"
fi
exec 5<&-
lms=$(grep "end=linger" "$TMP/weir.log" | sed -n 's/.*duration_ms=\([0-9]*\).*/\1/p')
[ "$lms" -ge 400 ] && [ "$lms" -le 2000 ] || fail "half-closed connection lived $lms ms, expected about 500"
stop_weir
echo "idle ok (silent connection closed after $ms ms, half-closed after $lms ms)"
