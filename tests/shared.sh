#!/bin/sh
# Several weir processes on one address: with the listen option `shared`, a second weir
# listens where the first does (SO_REUSEPORT) and the kernel spreads new clients over both;
# the old one can then drain away while the new one serves (a blue/green restart). Without
# `shared`, a second weir on a taken port exits 71 and the first serves on untouched; a
# unix address cannot be shared (64).
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
port=$(free_port)

# start NAME [LISTEN-OPTIONS]: a weir of one worker on 127.0.0.1:$port; sets PID_NAME.
start() {
	"$WEIR" -w 1 -l "127.0.0.1:$port$2" -b "127.0.0.1:$SERVER_PORT" 2>>"$TMP/$1.log" &
	eval "PID_$1=$!"
	PIDS="$PIDS $!"
	wait_for grep -q "listening on 127.0.0.1:$port" "$TMP/$1.log" || fail "weir $1 did not start"
}
clients_of() { grep -c " closed client=" "$TMP/$1.log" || true; }
logged_at_least() { [ $(($(clients_of blue) + $(clients_of green))) -ge "$1" ]; }
green_at_least() { [ "$(clients_of green)" -ge "$1" ]; }

start blue ,shared
start green ,shared
# Twenty clients, each on a new connection: the kernel hashes them over both sockets.
for i in $(seq 20); do
	"$TCPKIT" client "127.0.0.1:$port" --bytes 16k --seed "$i" --timeout 10 >/dev/null 2>&1 ||
		fail "client $i was not served with two weirs on the port"
done
wait_for logged_at_least 20 || fail "not every client was logged"
b=$(clients_of blue) g=$(clients_of green)
echo "20 clients: $b through blue, $g through green"
[ "$b" -ge 1 ] && [ "$g" -ge 1 ] || fail "the clients did not spread over both weirs"

# Blue drains and leaves; green alone serves every new client.
kill -TERM "$PID_blue"
reap "$PID_blue" 50 "weir blue (after SIGTERM)"
[ "$REAPED" -eq 0 ] || fail "blue exited $REAPED after SIGTERM"
for i in $(seq 10); do
	"$TCPKIT" client "127.0.0.1:$port" --bytes 16k --timeout 10 >/dev/null 2>&1 ||
		fail "client $i was not served after blue left"
done
wait_for green_at_least $((g + 10)) || fail "green did not serve the clients after blue left"

# Not shared: a second weir on the port refuses to start (71), and changes nothing.
status=0
"$WEIR" -w 1 -l "127.0.0.1:$port" -b "127.0.0.1:$SERVER_PORT" 2>"$TMP/red.log" || status=$?
[ "$status" -eq 71 ] || fail "a second weir on a taken port exited $status, expected 71"
grep -q "Address already in use" "$TMP/red.log" || fail "no reason given: $(cat "$TMP/red.log")"
"$TCPKIT" client "127.0.0.1:$port" --bytes 16k --timeout 10 >/dev/null 2>&1 ||
	fail "green stopped serving after the refused start"

# A unix address cannot be shared: a usage error.
status=0
"$WEIR" -t -l "unix:$TMP/s.sock,shared" -b "127.0.0.1:$SERVER_PORT" >/dev/null 2>"$TMP/unix.log" ||
	status=$?
[ "$status" -eq 64 ] || fail "unix:...,shared exited $status, expected 64"
grep -q "shared applies to TCP addresses only" "$TMP/unix.log" || fail "$(cat "$TMP/unix.log")"

kill -TERM "$PID_green"
reap "$PID_green" 50 "weir green (after SIGTERM)"
[ "$REAPED" -eq 0 ] || fail "green exited $REAPED after SIGTERM"
echo "shared listeners ok"
