#!/bin/sh
# slow-start: a server that comes back (set ready, UP again after failing its checks, new to
# a running weir) takes a small part of its share at first, under roundrobin, leastconn and
# random, while servers listed at start-up take their whole share; a client that no other
# server can take still goes to a server in its slow start; /stats shows the part it takes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server a echo
pa=$SERVER_PORT
pb=$(free_port)
start_server_on "$pb" b echo
b_pid=$SERVER_PID
start_server c echo
pc=$SERVER_PORT

# start_ramping BALANCE [KEY = VALUE...]: weir with servers a and b, a 10-minute slow start
# (a server takes a minute to pass a tenth of its share: no test, however slow the machine,
# gets there) and an admin socket.
start_ramping() {
	{
		printf '[global]\nadmin = unix:%s\nstats = 127.0.0.1:0\n' "$TMP/admin.sock"
		printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n'
		printf '[backend app]\nbalance = %s\nslow-start = 10m\n' "$1"
		shift
		for line in "$@"; do echo "$line"; done
		printf 'server = 127.0.0.1:%s name=a\nserver = 127.0.0.1:%s name=b\n' "$pa" "$pb"
	} >"$TMP/weir.conf"
	start_weir_conf "$TMP/weir.conf"
}

# went_to NAME N: of N clients one after another, how many server NAME served.
went_to() {
	before=$(closed_lines | wc -l)
	for i in $(seq "$2"); do served "(client $i of $2)"; done
	wait_for closed_at_least $((before + $2)) || fail "weir did not log $2 more clients"
	closed_lines | tail -n +$((before + 1)) | grep -c " server_name=$1 " || true
}

# Round robin: servers listed at start-up are not slowed; set ready again, b is.
start_ramping roundrobin
n=$(went_to b 40)
[ "$n" -ge 15 ] || fail "b, listed at start-up, served $n of 40 clients under roundrobin"
ctl set server app/b state drain >/dev/null || fail "cannot drain b"
ctl set server app/b state ready >/dev/null || fail "cannot set b ready"
n=$(went_to b 40)
[ "$n" -le 8 ] || fail "b, just set ready, served $n of 40 clients (its share is 20)"
echo "roundrobin: b set ready served $n of 40"
# /stats says how much of its share each server takes now.
http_get "$(stats_port)" /stats >"$TMP/stats.json"
grep -q '"name":"a",[^}]*"slow_start":100}' "$TMP/stats.json" || fail "a is not at 100%: $(cat "$TMP/stats.json")"
grep -q '"name":"b",[^}]*"slow_start":[0-9]}' "$TMP/stats.json" ||
	fail "b, a minute at most into a 10-minute slow start, is not below 10%: $(cat "$TMP/stats.json")"
ctl show servers >"$TMP/servers"
grep -q "^app/a .* 100%$" "$TMP/servers" && grep -q "^app/b .* [0-9]%$" "$TMP/servers" ||
	fail "show servers does not show the shares: $(cat "$TMP/servers")"
# With a in maint, b in its slow start is the only server: it takes every client.
ctl set server app/a state maint >/dev/null || fail "cannot set a to maint"
n=$(went_to b 10)
[ "$n" -eq 10 ] || fail "b, the only server left, served $n of 10 clients"
stop_weir

# Least connections: b back UP after failing its checks is slowed (without, each of its
# turns at 0 connections would take the client).
start_ramping leastconn "health-check = tcp" "health-interval = 200ms" "rise = 1" "fall = 1"
kill "$b_pid"
reap "$b_pid" 50 "server b"
wait_for grep -q "server app/b is DOWN" "$TMP/weir.log" || fail "b was not found DOWN"
start_server_on "$pb" b2 echo
wait_for grep -q "server app/b is UP" "$TMP/weir.log" || fail "b did not come back UP"
n=$(went_to b 40)
[ "$n" -le 8 ] || fail "b, just back UP, served $n of 40 clients under leastconn"
echo "leastconn: b back UP served $n of 40"
stop_weir

# Random: a server added to a running weir is slowed too.
start_ramping random
ctl add server app "127.0.0.1:$pc,name=c" >/dev/null || fail "cannot add c"
n=$(went_to c 60)
[ "$n" -le 10 ] || fail "c, just added, served $n of 60 clients under random (its share is 20)"
echo "random: c added served $n of 60"
stop_weir
echo "slow start ok"
