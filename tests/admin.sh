#!/bin/sh
# The admin interface (--admin, weir ctl), with two workers:
#  - the socket file is its owner's alone; a non-loopback address is refused;
#  - show servers / show conns list what runs, every worker's connections;
#  - drain: no new clients for the server, its open connection finishes; maint: the same,
#    and its health checks stop; ready: back; the state survives a SIGHUP;
#  - set weight, add server, del server (refused until drained and empty) rebuild the
#    configuration without a pause in relaying, on every worker;
#  - shutdown sessions cuts a server's connections, with resets;
#  - a server a reload drops while it has clients is listed as BACKEND/~NAME until they
#    finish, and only shutdown sessions applies to it;
#  - a server deleted and added back is ready, and waits for a check of its own;
#  - bad commands get one clear line and exit 1, and change nothing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server_on "$(free_port)" a echo
pa=$SERVER_PORT
a_pid=$SERVER_PID
start_server b echo
pb=$SERVER_PORT
start_server c echo
pc=$SERVER_PORT
c_pid=$SERVER_PID
sock="$TMP/admin.sock"
# state_of SERVER: its state column in show servers ("ready UP" and so on).
state_of() {
	ctl show servers | awk -v s="$1" '$1 == s { print $3, $4 }'
}
# connections_to PORT: clients weir logged as closed on the server at PORT.
connections_to() {
	closed_lines | grep -c "server=127.0.0.1:$1 " || true
}

printf '[global]\nadmin = unix:%s\nworkers = 2\n[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n' \
	"$sock" >"$TMP/weir.conf"
printf '[backend app]\nserver = 127.0.0.1:%s name=a\nserver = 127.0.0.1:%s name=b\n' \
	"$pa" "$pb" >>"$TMP/weir.conf"
printf 'health-check = tcp\nhealth-interval = 200ms\n' >>"$TMP/weir.conf"
start_weir_conf "$TMP/weir.conf"
[ "$(stat -c %a "$sock")" = 600 ] || fail "the admin socket is mode $(stat -c %a "$sock"), not 600"

ctl show servers >"$TMP/servers" || fail "show servers failed"
grep -q "^app/a 127.0.0.1:$pa ready UP 1 " "$TMP/servers" || fail "show servers: $(cat "$TMP/servers")"
grep -q "^app/b 127.0.0.1:$pb ready UP 1 " "$TMP/servers" || fail "show servers: $(cat "$TMP/servers")"

# Bad commands: one line on stderr, exit 1, nothing changed.
for bad in "bogus" "set server app/zz state drain" "set server nope/a state drain" \
	"set server app/a state sleepy" "set server app/a weight 999" "add server nope 127.0.0.1:1" \
	"add server app 127.0.0.1:1,weight=x" "del server app/a" "show" ""; do
	status=0
	# shellcheck disable=SC2086
	ctl $bad >"$TMP/out" 2>"$TMP/err" || status=$?
	[ "$status" = 1 ] || [ -z "$bad" ] || fail "'$bad' exited $status, not 1"
	[ -z "$bad" ] || [ "$(wc -l <"$TMP/err")" = 1 ] || fail "'$bad' said: $(cat "$TMP/err")"
done
status=0
ctl >/dev/null 2>&1 || status=$?
[ "$status" = 64 ] || fail "weir ctl without a command exited $status, not 64"
for usage in "--socket" "-s" "--sockt unix:$TMP/admin.sock show servers"; do
	status=0
	# shellcheck disable=SC2086
	"$WEIR" ctl $usage >/dev/null 2>"$TMP/err" || status=$?
	[ "$status" = 64 ] || fail "weir ctl $usage exited $status, not 64: $(cat "$TMP/err")"
done
ctl show servers | diff - "$TMP/servers" >/dev/null || fail "a refused command changed something"
kill -0 "$WEIR_PID" || fail "weir died of a bad command"

# Drain a: a connection to it finishes; new clients all go to b.
hold_client held 4
ctl set server app/a state drain >/dev/null || fail "drain refused"
[ "$(state_of app/a)" = "drain UP" ] || fail "a is $(state_of app/a) after drain"
before_a=$(connections_to "$pa")
before_b=$(connections_to "$pb")
for i in 1 2 3 4 5 6; do served "with a drained"; done
wait_for closed_at_least $((before_a + before_b + 6)) || fail "the clients were not logged"
[ "$(connections_to "$pa")" = "$before_a" ] || fail "a drained server got new clients"
ctl show conns >"$TMP/conns"
[ "$(grep -c ' web 127.0.0.1:' "$TMP/conns")" = 4 ] || fail "show conns: $(cat "$TMP/conns")"
cut -d' ' -f1 "$TMP/conns" | grep -q '^0$' && cut -d' ' -f1 "$TMP/conns" | grep -q '^1$' ||
	echo "note: the 4 held connections were all on one worker"
release "$HELD" "the held clients"

# Deleting a server: refused while ready, allowed once drained and empty.
ctl del server app/b >/dev/null 2>"$TMP/err" && fail "a ready server was deleted"
grep -q "ready: set it to drain" "$TMP/err" || fail "del of a ready server said: $(cat "$TMP/err")"

# Maint: no health checks. Kill a's server: a drained server would go DOWN, one in maint stays.
ctl set server app/a state maint >/dev/null || fail "maint refused"
kill "$a_pid"
sleep 1
[ "$(state_of app/a)" = "maint UP" ] || fail "a server in maint was checked: $(state_of app/a)"
ctl set server app/a state ready >/dev/null || fail "ready refused"
wait_for sh -c "'$WEIR' ctl --socket 'unix:$sock' show servers | grep -q '^app/a .* ready DOWN'" ||
	fail "a ready server whose server died did not go DOWN"
"$TCPKIT" server "127.0.0.1:$pa" --port-file "$TMP/a2.port" --mode echo 2>/dev/null &
PIDS="$PIDS $!"
wait_for sh -c "'$WEIR' ctl --socket 'unix:$sock' show servers | grep -q '^app/a .* ready UP'" ||
	fail "a did not come back UP"

# A state survives SIGHUP.
ctl set server app/b state drain >/dev/null
kill -HUP "$WEIR_PID"
wait_for grep -q "reloaded:" "$TMP/weir.log" || fail "no reload"
[ "$(state_of app/b)" = "drain UP" ] || fail "b's drain did not survive SIGHUP: $(state_of app/b)"
ctl set server app/b state ready >/dev/null

# Changes that rebuild the configuration, with round trips running all along: none pauses.
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode rr --requests 30000 --timeout 60 >"$TMP/rr.out" &
rr=$!
PIDS="$PIDS $rr"
ctl set server app/a weight 3 >/dev/null || fail "set weight failed"
ctl add server app "127.0.0.1:$pc,name=c" >/dev/null || fail "add server failed"
ctl show servers >"$TMP/servers"
grep -q "^app/a 127.0.0.1:$pa ready UP 3 " "$TMP/servers" || fail "weight not set: $(cat "$TMP/servers")"
# With checks on, a new server waits for one to pass (on loopback that takes a millisecond
# or two, so it may be UP already by the time it is listed).
grep -Eq "^app/c 127.0.0.1:$pc ready (DOWN|UP) 1 " "$TMP/servers" ||
	fail "c not added: $(cat "$TMP/servers")"
wait_for grep -q "server app/c is new: it takes clients once a check passes" "$TMP/weir.log" ||
	fail "c did not wait for a check"
wait_for sh -c "'$WEIR' ctl --socket 'unix:$sock' show servers | grep -q '^app/c .* ready UP'" ||
	fail "the added server never passed its check"
ctl set server app/c state drain >/dev/null
# Clients held from here keep the configuration that lists c running.
hold_client back 2
ctl del server app/c >/dev/null || fail "deleting drained, idle c failed"
ctl show servers | grep -q "^app/c " && fail "c is still there after del"
# Added again while connections of a configuration that listed it still run: a new
# server, ready (not drained, as it was when deleted), that takes clients once a check of
# its own passes (its server has stopped meanwhile: it must not come back UP).
kill "$c_pid"
ctl add server app "127.0.0.1:$pc,name=c" >/dev/null || fail "adding c again failed"
[ "$(state_of app/c)" = "ready DOWN" ] || fail "c added again is $(state_of app/c)"
[ "$(grep -c "server app/c is new" "$TMP/weir.log")" = 2 ] || fail "c came back unchecked"
release "$HELD" "the clients held while c came back"
ctl set server app/c state drain >/dev/null
ctl del server app/c >/dev/null || fail "deleting c again failed"
reap "$rr" 600 "the round trips"
[ "$REAPED" -eq 0 ] || fail "round trips failed during the changes: $(cat "$TMP/rr.out")"
echo "round trips during weight, add and del: $(cat "$TMP/rr.out")"
max=$(sed -n 's/.*max \([0-9]*\) us.*/\1/p' "$TMP/rr.out")
[ "$max" -lt 500000 ] || fail "a round trip paused $max us during the changes"
grep -q "still listening on 127.0.0.1:$WEIR_PORT " "$TMP/weir.log" ||
	fail "the listener was not kept across the changes"

# Shutdown sessions: the held clients of a server are reset.
before=$(closed_lines | grep -c "end=shutdown" || true)
hold_client h2 6
held=$HELD
n=$(ctl shutdown sessions server app/a | sed -n 's/^\([0-9]*\) connection.*/\1/p')
[ -n "$n" ] && [ "$n" -gt 0 ] || fail "shutdown sessions cut nothing"
wait_for logged_at_least $((before + n)) "end=shutdown" || fail "the cut connections were not logged"
[ "$(closed_lines | grep -c "end=shutdown")" -eq $((before + n)) ] ||
	fail "shutdown sessions: $n cut, but the log says otherwise"
kill "$held" 2>/dev/null || true # it may have left when its connections were reset
reap "$held" 50 "the held clients"

# A server a reload drops while clients are on it: listed as BACKEND/~NAME until they
# finish (the reload gives its name to another address); commands that change a server
# refuse it, shutdown sessions cuts its connections, and the running b's name reaches only b.
ctl set server app/a state drain >/dev/null
hold_client h3 3
held=$HELD
ctl set server app/a state ready >/dev/null
ctl set server app/b state drain >/dev/null
hold_client h4 1
held="$held $HELD"
sed -i "s/:$pb /:$pc /" "$TMP/weir.conf"
reloads=$(grep -c "reloaded:" "$TMP/weir.log")
kill -HUP "$WEIR_PID"
wait_for logged_at_least $((reloads + 1)) "reloaded:" || fail "the reload dropping b failed"
ctl show servers >"$TMP/servers"
grep -q "^app/~b 127.0.0.1:$pb removed - 0 3 " "$TMP/servers" ||
	fail "b, dropped with 3 clients, is not listed as removed: $(cat "$TMP/servers")"
grep -q "^app/b 127.0.0.1:$pc " "$TMP/servers" || fail "the new b is not listed: $(cat "$TMP/servers")"
[ "$(grep -c "^app/a " "$TMP/servers")" = 1 ] || fail "a is listed twice: $(cat "$TMP/servers")"
ctl set server app/~b state ready >/dev/null 2>"$TMP/err" && fail "a removed server was set ready"
grep -q "app/~b was removed" "$TMP/err" || fail "setting a removed server said: $(cat "$TMP/err")"
n=$(ctl shutdown sessions server app/b | sed -n 's/^\([0-9]*\) connection.*/\1/p')
[ "$n" = 0 ] || fail "shutdown sessions of the new b cut ${n:-nothing}, not its 0"
n=$(ctl shutdown sessions server app/~b | sed -n 's/^\([0-9]*\) connection.*/\1/p')
[ "$n" = 3 ] || fail "shutdown sessions of the removed b cut ${n:-nothing}, not 3"
wait_for sh -c "! '$WEIR' ctl --socket 'unix:$sock' show servers | grep -q '^app/~b '" ||
	fail "the removed b is still listed once its connections were cut"
ctl set server app/~b state ready >/dev/null 2>"$TMP/err" && fail "a gone server was set ready"
grep -q "backend 'app' has no removed server 'b'" "$TMP/err" ||
	fail "setting a removed server that is gone said: $(cat "$TMP/err")"
for pid in $held; do
	kill "$pid" 2>/dev/null || true
	reap "$pid" 50 "the clients held on a and b"
done

# Servers of one address: a named one stays itself whatever the others do (b2 keeps its
# maint when b goes); unnamed ones of alike lines are told apart by their order, so deleting
# the first would turn the second into it (drained, its connections orphaned): refused.
ctl add server app "127.0.0.1:$pc,name=b2" >/dev/null || fail "adding b2 failed"
ctl set server app/b2 state maint >/dev/null
ctl set server app/b state drain >/dev/null
ctl del server app/b >/dev/null || fail "deleting b before b2, of the same address, failed"
[ "$(state_of app/b2 | cut -d' ' -f1)" = maint ] || fail "b2 is $(state_of app/b2) once b went"
ctl add server app "127.0.0.1:$pc" >/dev/null || fail "adding an unnamed server failed"
ctl add server app "127.0.0.1:$pc" >/dev/null || fail "adding a second unnamed server failed"
ctl set server "app/127.0.0.1:$pc" state drain >/dev/null
ctl del server "app/127.0.0.1:$pc" >/dev/null 2>"$TMP/err" && fail "the first of two was deleted"
grep -q "has the address of 127.0.0.1:$pc#2, listed after it" "$TMP/err" ||
	fail "deleting the first of two said: $(cat "$TMP/err")"
ctl set server "app/127.0.0.1:$pc#2" state drain >/dev/null
ctl del server "app/127.0.0.1:$pc#2" >/dev/null || fail "deleting the last of two failed"
ctl del server "app/127.0.0.1:$pc" >/dev/null || fail "deleting the first once alone failed"
stop_weir

# Only loopback or a unix socket.
status=0
"$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$pb" --admin 0.0.0.0:9999 2>"$TMP/err" || status=$?
[ "$status" = 78 ] || fail "an admin socket on 0.0.0.0 exited $status, not 78: $(cat "$TMP/err")"
grep -q "only a unix socket or a loopback address" "$TMP/err" || fail "said: $(cat "$TMP/err")"
status=0
"$WEIR" ctl --socket "unix:$TMP/none.sock" show servers 2>"$TMP/err" || status=$?
[ "$status" = 69 ] || fail "weir ctl with nobody listening exited $status, not 69"
