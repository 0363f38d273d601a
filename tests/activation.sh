#!/bin/sh
# Socket activation with the files weir ships, unchanged: dist/weir.socket passes its
# ListenStream= socket named by FileDescriptorName= (as systemd does, here through sdkit)
# to weir running examples/weir.conf, whose frontend lists that address and [::]:80 too.
# weir must use the passed socket for its address (not bind it again and fail), bind the
# rest itself, and relay. Port 80 and the example's backend ports are used as shipped, in
# a network namespace of the test's own so nothing on the machine is in the way.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
: "${SDKIT:?}"

if [ -z "${WEIR_IN_NETNS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v unshare >/dev/null 2>&1 || skip "no unshare"
	trap - EXIT
	rm -rf "$TMP"
	exec unshare -n env WEIR_IN_NETNS=1 sh "$0"
fi
ip link set lo up || skip "cannot bring up loopback in the namespace"

unit="$WEIR_SRCDIR/dist/weir.socket"
conf="$WEIR_SRCDIR/examples/weir.conf"
listen=$(sed -n 's/^ListenStream=//p' "$unit")
name=$(sed -n 's/^FileDescriptorName=//p' "$unit")
[ -n "$listen" ] && [ -n "$name" ] || fail "cannot read ListenStream= and FileDescriptorName= of $unit"
port=${listen##*:}

# The example's servers: 127.0.0.1:8080 and :8081 (and :8082, a backup).
for p in $(sed -n 's/^server = 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$conf"); do
	"$TCPKIT" server "127.0.0.1:$p" --port-file "$TMP/s$p.port" --mode echo 2>>"$TMP/s$p.log" &
	PIDS="$PIDS $!"
	wait_for test -s "$TMP/s$p.port" || fail "server on $p did not start"
done

"$WEIR" -t -c "$conf" >/dev/null || fail "the example configuration does not pass -t"
: >"$TMP/weir.log"
"$SDKIT" activate "$listen" "$name" "$TMP/passed.port" -- "$WEIR" -c "$conf" 2>>"$TMP/weir.log" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for grep -q "running:" "$TMP/weir.log" || {
	sleep 0.2
	fail "weir did not start with the shipped files"
}
grep -q "listening on $listen (frontend $name)" "$TMP/weir.log" ||
	fail "the passed socket was not used for $listen"
[ "$(grep -c "listening on $listen " "$TMP/weir.log")" -eq 1 ] || fail "$listen was listened on twice"
"$TCPKIT" client "127.0.0.1:$port" --connections 4 --bytes 256k --timeout 20 >/dev/null ||
	fail "no relay through the passed socket"
if grep -q "listening on \[::\]:$port" "$TMP/weir.log"; then
	"$TCPKIT" client "[::1]:$port" --bytes 64k --timeout 20 >/dev/null ||
		fail "no relay on [::]:$port"
fi
stop_weir
echo "socket activation with the shipped files ok"
