#!/bin/sh
# Admin commands that meet something else on their way (two workers):
#  - a change that waits behind another change or a SIGHUP that moved the server lines is
#    refused, not made on whichever server took its place; a del whose server was set
#    ready (and took clients) while it waited is refused when its turn comes;
#  - a server set ready serves the clients waiting for a full backend at once; the last
#    server drained tells them at once, as it tells new clients;
#  - a client waiting when a change adds capacity is served by it at once: a weight raised
#    from 0, a server added (it moves to the new configuration, in its place in line);
#  - a client that ends its side after its command (as nc -N and socat do) gets its answer,
#    and a command cut off by that end, with no newline, is done;
#  - a change sent while weir drains after SIGTERM is refused, and weir drains on;
#  - a client waiting when a reload renames its backend (or its frontend) stays with the
#    configuration it came under, and is served there once a slot frees.
# An LD_PRELOAD shim makes name lookups slow, so that each rebuild takes long enough for
# another command to come while it runs.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
: "${SLOWDNS:?run through make check, or set SLOWDNS to tests/slowdns.so}"
[ -f "$SLOWDNS" ] || skip "no $SLOWDNS"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export SLOWDNS_MS=1500

start_server a echo
pa=$SERVER_PORT
start_server b echo
pb=$SERVER_PORT
start_server c echo
pc=$SERVER_PORT
sock="$TMP/admin.sock"
# conf NAMES...: backend app with these of the servers a, b, c; a second backend's server is
# a name (slow to look up), so that every rebuild takes SLOWDNS_MS.
conf() {
	{
		printf '[global]\nadmin = unix:%s\nworkers = 2\n' "$sock"
		printf '[frontend web]\nlisten = 127.0.0.1:%s\nbackend = app\n' "${WEIR_PORT:-0}"
		printf '[frontend other]\nlisten = 127.0.0.1:0\nbackend = slow\n'
		printf '[backend slow]\nserver = x.slow.test:%s\n[backend app]\n' "$pc"
		for n in "$@"; do
			eval "p=\$p$n"
			echo "server = 127.0.0.1:$p name=$n"
		done
	} >"$TMP/weir.conf"
}
servers() {
	ctl show servers | awk '$1 ~ /^app\// { print $1, $3, $5, $6 }' | tr '\n' ' '
}

conf a b c
LD_PRELOAD="$SLOWDNS" start_weir_conf "$TMP/weir.conf" --log-level debug

# Two dels in a row: the first moves the second's line; the second is refused.
ctl set server app/a state drain
ctl set server app/b state drain
hold_client held 2 # both on c
ctl del server app/a >"$TMP/del_a" 2>&1 &
del_a=$!
wait_for logged_at_least 1 "change asked: del" || fail "the first del did not reach weir"
status=0
ctl del server app/b >"$TMP/del_b" 2>&1 || status=$?
reap "$del_a" 100 "the first del"
[ "$REAPED" -eq 0 ] || fail "the first del failed: $(cat "$TMP/del_a")"
[ "$status" -eq 1 ] && grep -q "server lines changed" "$TMP/del_b" ||
	fail "the del queued behind another gave $status: $(cat "$TMP/del_b")"
[ "$(servers)" = "app/b drain 1 0 app/c ready 1 2 " ] ||
	fail "after del a and a refused del b: $(servers)"
release "$HELD" "the clients of c"

# A weight sent while a SIGHUP that drops a line is read: refused, nothing changed.
conf b c
kill -HUP "$WEIR_PID"
wait_for logged_at_least 1 "SIGHUP: reloading" || fail "the SIGHUP did not start a reload"
status=0
ctl set server app/c weight 0 >"$TMP/weight" 2>&1 || status=$?
[ "$status" -eq 1 ] && grep -q "server lines changed" "$TMP/weight" ||
	fail "a weight queued behind a SIGHUP gave $status: $(cat "$TMP/weight")"
wait_for logged_at_least 1 "reloaded:" || fail "the SIGHUP was not applied"
[ "$(servers)" = "app/b drain 1 0 app/c ready 1 0 " ] ||
	fail "after the SIGHUP and the refused weight: $(servers)"

# A del asked while b is drained, done after b was set ready and took clients: refused.
ctl set server app/c weight 2 >/dev/null &
slow=$!
wait_for logged_at_least 2 "change asked: weight" || fail "the weight change did not reach weir"
ctl del server app/b >"$TMP/del" 2>&1 &
del=$!
wait_for logged_at_least 3 "change asked: del" || fail "the del did not reach weir"
ctl set server app/b state ready
ctl set server app/c state drain
hold_client held 2 # both on b
reap "$slow" 100 "the weight change"
reap "$del" 100 "the del"
[ "$REAPED" -eq 1 ] && grep -Eq "is ready|still has 2 connection" "$TMP/del" ||
	fail "a del of a server set ready meanwhile gave $REAPED: $(cat "$TMP/del")"
[ "$(servers)" = "app/b ready 1 2 app/c drain 2 0 " ] || fail "after the refused del: $(servers)"
release "$HELD" "the clients of b"
stop_weir

# Waiting clients: a holds its one slot, b is drained.
printf '[global]\nadmin = unix:%s\nworkers = 2\n' "$sock" >"$TMP/weir.conf"
printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n' >>"$TMP/weir.conf"
printf '[backend app]\nqueue-timeout = 8s\nserver = 127.0.0.1:%s name=a,maxconn=1\n' "$pa" >>"$TMP/weir.conf"
printf 'server = 127.0.0.1:%s name=b\n' "$pb" >>"$TMP/weir.conf"
WEIR_PORT=""
start_weir_conf "$TMP/weir.conf"
ctl set server app/b state drain
hold_client full
start_waiting_client "$TMP/waiter" "to a full a"
t0=$(now_ms)
ctl set server app/b state ready
reap "$WAITER" 30 "the client waiting when b was set ready"
[ "$REAPED" -eq 0 ] || fail "the waiting client was not served by b: $(cat "$TMP/waiter")"
[ $(($(now_ms) - t0)) -lt 2000 ] || fail "the waiting client waited $(($(now_ms) - t0)) ms after b was ready"

# The last server drained: the waiting client is told at once (no-server), not at 8 s.
ctl set server app/b state drain
start_waiting_client "$TMP/waiter" "to a full a"
t0=$(now_ms)
ctl set server app/a state drain
reap "$WAITER" 30 "the client waiting when a was drained"
[ "$REAPED" -ne 0 ] || fail "a client was served with every server drained"
[ $(($(now_ms) - t0)) -lt 2000 ] || fail "the waiting client was closed $(($(now_ms) - t0)) ms after the drain"
wait_for logged_at_least 1 "end=no-server" || fail "the waiting client was not closed as no-server"
ctl set server app/a state ready

# b at weight 0: a raised weight serves the client waiting for a, on b, at once.
ctl set server app/b weight 0
ctl set server app/b state ready
start_waiting_client "$TMP/waiter" "to a full a"
ctl set server app/b weight 1
reap "$WAITER" 30 "the client waiting when b's weight rose"
[ "$REAPED" -eq 0 ] || fail "the waiting client was not served by b: $(cat "$TMP/waiter")"
closed_lines | tail -n 1 | grep -q "server=127.0.0.1:$pb " ||
	fail "the waiting client was not served by b: $(closed_lines | tail -n 1)"
[ "$(grep -c "end=no-server" "$TMP/weir.log")" -eq 1 ] || fail "a client was closed as no-server"

# b back at weight 0, two clients waiting: a server added serves them.
ctl set server app/b weight 0
start_waiting_client "$TMP/first" "to a full a"
first=$WAITER
start_waiting_client "$TMP/second" "to a full a"
second=$WAITER
ctl add server app "127.0.0.1:$pc,name=c,maxconn=1"
reap "$first" 30 "the first client waiting when c was added"
[ "$REAPED" -eq 0 ] || fail "the first waiting client was not served by c: $(cat "$TMP/first")"
reap "$second" 30 "the second client waiting when c was added"
[ "$REAPED" -eq 0 ] || fail "the second waiting client was not served by c: $(cat "$TMP/second")"
[ "$(closed_lines | tail -n 2 | grep -c "server=127.0.0.1:$pc ")" -eq 2 ] ||
	fail "the waiting clients were not served by c: $(closed_lines | tail -n 2)"
ctl set server app/c state drain
ctl del server app/c
release "$HELD" "the client of a"

# Half-closing clients (node, which the browser test needs too, speaks unix sockets).
if command -v node >/dev/null; then
	ask_and_end() { # COMMAND: send it, end our side, print what comes back
		node -e '
			const [path, cmd] = process.argv.slice(1);
			const s = require("net").createConnection(path, () => s.end(cmd));
			let out = "";
			s.on("data", (d) => (out += d));
			s.on("end", () => process.stdout.write(out));
			s.on("error", (e) => { console.error(String(e)); process.exit(1); });
			setTimeout(() => { console.error("no answer"); process.exit(1); }, 10000).unref();
		' "$sock" "$1"
	}
	[ "$(ask_and_end "$(printf 'set server app/b weight 7\n')")" = ok ] ||
		fail "a half-closing client got no answer to a change"
	[ "$(ask_and_end "set server app/b state drain")" = ok ] ||
		fail "a command ended by the client's end, with no newline, got no answer"
	[ "$(servers)" = "app/a ready 1 0 app/b drain 7 0 " ] ||
		fail "the half-closing clients' commands were not done: $(servers)"
fi

# SIGTERM with a connection open: a change is refused while weir drains, and weir drains on.
hold_client drained
kill -TERM "$WEIR_PID"
wait_for logged_at_least 1 "draining 1 connection" || fail "weir did not drain"
status=0
ctl set server app/b weight 3 >"$TMP/weight" 2>&1 || status=$?
[ "$status" -eq 1 ] && grep -q "weir is stopping" "$TMP/weight" ||
	fail "a change while draining gave $status: $(cat "$TMP/weight")"
kill -0 "$WEIR_PID" 2>/dev/null || fail "weir died on a change while draining"
release "$HELD" "the drained client"
reap "$WEIR_PID" 50 "weir after its drain"
[ "$REAPED" -eq 0 ] || fail "weir exited $REAPED after its drain"
# A reload renames the backend, then the frontend, while a client waits for a's one slot:
# nothing of the new configuration is its own, so it stays, and a's slot serves it.
for renamed in backend frontend; do
	printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n' >"$TMP/weir.conf"
	printf '[backend app]\nserver = 127.0.0.1:%s maxconn=1\n' "$pa" >>"$TMP/weir.conf"
	WEIR_PORT=""
	start_weir_conf "$TMP/weir.conf"
	hold_client full
	start_waiting_client "$TMP/waiter" "to a full a"
	sed -i "s/^listen = .*/listen = 127.0.0.1:$WEIR_PORT/" "$TMP/weir.conf"
	if [ "$renamed" = backend ]; then
		sed -i 's/^backend = app/backend = app2/; s/^\[backend app\]/[backend app2]/' "$TMP/weir.conf"
	else
		sed -i 's/^\[frontend web\]/[frontend web2]/' "$TMP/weir.conf"
	fi
	kill -HUP "$WEIR_PID"
	wait_for logged_at_least 1 "reloaded:" || fail "the reload renaming the $renamed failed"
	sleep 0.5
	kill -0 "$WAITER" 2>/dev/null ||
		fail "the client waiting when its $renamed was renamed was closed: $(cat "$TMP/waiter")"
	release "$HELD" "the client of a"
	reap "$WAITER" 50 "the client waiting when its $renamed was renamed"
	[ "$REAPED" -eq 0 ] || fail "the client whose $renamed was renamed was not served: $(cat "$TMP/waiter")"
	stop_weir
done
echo "admin races ok"
