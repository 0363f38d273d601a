#!/bin/sh
# Under systemd: READY=1 arrives on the notify socket once weir listens, STOPPING=1 when it
# stops; a listening socket passed by socket activation serves traffic (matched by its name
# or its address); --user drops privileges after binding.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
: "${SDKIT:?}"

start_server echo echo
"$SDKIT" notify-listen "$TMP/notify.sock" "$TMP/notify.out" &
PIDS="$PIDS $!"
wait_for test -S "$TMP/notify.sock" || fail "notify socket did not appear"

# A passed socket named after the frontend (FileDescriptorName=) serves beside its own address.
printf '[frontend web]\nlisten = 127.0.0.1:1\nbackend = app\n[backend app]\nserver = 127.0.0.1:%s\n' \
	"$SERVER_PORT" >"$TMP/named.conf"
: >"$TMP/weir.log"
NOTIFY_SOCKET="$TMP/notify.sock" "$SDKIT" activate 127.0.0.1:0 web "$TMP/passed.port" -- \
	"$WEIR" -c "$TMP/named.conf" 2>>"$TMP/weir.log" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for grep -q "READY=1" "$TMP/notify.out" 2>/dev/null || fail "READY=1 never arrived"
grep -q "^STATUS=serving 1 frontend(s), 1 server(s)$" "$TMP/notify.out" || fail "no STATUS"
port=$(cat "$TMP/passed.port")
"$TCPKIT" client "127.0.0.1:$port" --connections 2 --bytes 1m --timeout 20 >/dev/null ||
	fail "the passed socket did not serve"
grep -q "listening on 127.0.0.1:$port (frontend web)" "$TMP/weir.log" ||
	fail "the passed socket was not used by frontend web"
# It stays the frontend's across a reload, though no listen key names its address.
kill -HUP "$WEIR_PID"
wait_for grep -q "reloaded: 1 frontend(s)" "$TMP/weir.log" || fail "SIGHUP did not reload"
grep -q "still listening on 127.0.0.1:$port (frontend web)" "$TMP/weir.log" ||
	fail "the named passed socket was dropped by the reload"
"$TCPKIT" client "127.0.0.1:$port" --bytes 64k --timeout 20 >/dev/null ||
	fail "the passed socket stopped serving after a reload"
stop_weir
wait_for grep -q "^STOPPING=1$" "$TMP/notify.out" || fail "STOPPING=1 never arrived"

# Matched by address: the frontend listens where the passed socket is bound; an unnamed,
# unmatched socket would be closed with a warning.
printf '[frontend other]\nlisten = 127.0.0.1:%s\nbackend = app\n[backend app]\nserver = 127.0.0.1:%s\n' \
	"$port" "$SERVER_PORT" >"$TMP/addr.conf"
: >"$TMP/weir.log"
"$SDKIT" activate "127.0.0.1:$port" unnamed "$TMP/passed2.port" -- \
	"$WEIR" -c "$TMP/addr.conf" 2>>"$TMP/weir.log" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for grep -q "listening on 127.0.0.1:$port (frontend other)" "$TMP/weir.log" ||
	fail "the passed socket was not matched by address"
"$TCPKIT" client "127.0.0.1:$port" --bytes 64k --timeout 20 >/dev/null || fail "no relay"
# A reload keeps the passed socket: its address is still the frontend's.
kill -HUP "$WEIR_PID"
wait_for grep -q "reloaded: 1 frontend(s)" "$TMP/weir.log" || fail "SIGHUP did not reload"
grep -q "still listening on 127.0.0.1:$port (frontend other)" "$TMP/weir.log" ||
	fail "the passed socket was not kept across the reload"
"$TCPKIT" client "127.0.0.1:$port" --bytes 64k --timeout 20 >/dev/null || fail "no relay after HUP"
stop_weir

# --user: the process runs as that user once its listeners are bound.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	start_weir -b "127.0.0.1:$SERVER_PORT" --user nobody
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$WEIR_PID/status")
	[ "$uid" -eq "$(id -u nobody)" ] || fail "weir still runs as uid $uid"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 20 >/dev/null ||
		fail "no relay after dropping privileges"
	stop_weir
else
	echo "not root: --user not tested"
fi
status=0
"$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$SERVER_PORT" --user no-such-user-here 2>"$TMP/err" ||
	status=$?
[ "$status" -eq 78 ] && grep -q "no user called 'no-such-user-here'" "$TMP/err" ||
	fail "unknown user: exit $status, $(cat "$TMP/err")"
echo "systemd ok"
