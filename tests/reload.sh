#!/bin/sh
# SIGHUP while a transfer runs, with one server removed and one added: the transfer finishes
# intact on its old server, new clients follow the new set, the listener that stayed is kept
# open (never closed and reopened), an added frontend opens; an invalid file changes nothing.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

for s in 1 2 3; do
	start_server "s$s" send --bytes 20m
	eval "port$s=\$SERVER_PORT"
done

backend() { # SERVER_PORTS...: the [backend app] section
	echo "[backend app]"
	for p in "$@"; do echo "server = 127.0.0.1:$p"; done
}
{
	printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n'
	backend "$port1" "$port2"
} >"$TMP/weir.conf"
start_weir_conf "$TMP/weir.conf" --log-level debug

# A long transfer on server 1 (round robin's first pick): 20 MB read at 5 MB/s (at 1 MB/s
# under a sanitizer, which slows the transfers that must finish meanwhile).
rate=5m
[ "$WEIR_SANITIZED" = no ] || rate=1m
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate "$rate" --expect 20m \
	--timeout 60 >"$TMP/long.out" 2>&1 &
long=$!
PIDS="$PIDS $long"
wait_for connected_to "$port1" || fail "the long transfer did not reach server 1"

# Reload: server 1 out, server 3 in, and a second frontend.
{
	printf '[frontend web]\nlisten = 127.0.0.1:%s\nbackend = app\n' "$WEIR_PORT"
	printf '[frontend two]\nlisten = 127.0.0.1:0\nbackend = app\n'
	backend "$port2" "$port3"
} >"$TMP/weir.conf"
kill -HUP "$WEIR_PID"
wait_for grep -q "reloaded: 2 frontend(s), 2 server(s)" "$TMP/weir.log" || fail "no reload"
grep -q "still listening on 127.0.0.1:$WEIR_PORT (frontend web)" "$TMP/weir.log" ||
	fail "the listener that stayed was not kept"
[ "$(grep -c "info: listening on 127.0.0.1:$WEIR_PORT " "$TMP/weir.log")" -eq 1 ] ||
	fail "the kept listener was reopened"
two=$(frontend_port two)
[ -n "$two" ] || fail "the added frontend did not open"

for i in 1 2 3 4; do
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate 1g --expect 20m \
		--timeout 30 >/dev/null || fail "client $i after the reload failed"
done
"$TCPKIT" client "127.0.0.1:$two" --mode slow-read --rate 1g --expect 20m --timeout 30 \
	>/dev/null || fail "the added frontend does not serve"
kill -0 "$long" 2>/dev/null || fail "the long transfer ended before the test could check it"
reap "$long" 400 "the long transfer"
[ "$REAPED" -eq 0 ] || fail "the transfer across the reload broke: $(cat "$TMP/long.out")"
wait_for closed_at_least 6 || fail "expected 6 closed lines"
closed_lines | grep -q "server=127.0.0.1:$port1 server_name=127.0.0.1:$port1 end=server-closed .*to_client=20971520 " ||
	fail "the long transfer was not served whole by server 1"
[ "$(closed_lines | grep -c "server=127.0.0.1:$port1 ")" -eq 1 ] ||
	fail "a new client went to the removed server"
[ "$(closed_lines | grep -c "server=127.0.0.1:$port3 ")" -ge 2 ] ||
	fail "the added server got no clients"
wait_for grep -q "the last connection of a retired configuration closed" "$TMP/weir.log" ||
	fail "the retired configuration was not freed"

# An invalid file: logged, and weir serves on as before.
printf '[frontend web]\nlisten = 127.0.0.1:%s\nlistne = oops\n' "$WEIR_PORT" >"$TMP/weir.conf"
kill -HUP "$WEIR_PID"
wait_for grep -q 'reload failed, keeping the running configuration: .*weir.conf:3: unknown key "listne"' \
	"$TMP/weir.log" || fail "the invalid reload was not reported"
"$TCPKIT" client "127.0.0.1:$two" --mode slow-read --rate 1g --expect 20m --timeout 30 \
	>/dev/null || fail "weir stopped serving after an invalid reload"
stop_weir

# maxconn holds across reloads: connections opened under older configurations still count.
start_server echo echo
printf '[frontend f]\nlisten = 127.0.0.1:0\nbackend = b\n[backend b]\nserver = 127.0.0.1:%s maxconn=2\nconnect-timeout = 20s\n' \
	"$SERVER_PORT" >"$TMP/maxconn.conf"
start_weir_conf "$TMP/maxconn.conf" --log-level debug
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEIR_PORT/" "$TMP/maxconn.conf"
hold_client first
first=$HELD
kill -HUP "$WEIR_PID"
wait_for logged_at_least 1 "reloaded:" || fail "first reload"
hold_client second
second=$HELD
kill -HUP "$WEIR_PID"
wait_for logged_at_least 2 "reloaded:" || fail "second reload"
start_waiting_client "$TMP/third.out" "maxconn=2 after two reloads"
third=$WAITER
# The oldest configuration's connection closes: its slot goes to the waiting client.
kill -TERM "$first"
reap "$first" 50 "the first held client"
reap "$third" 50 "the waiting client (once an old connection closed)"
[ "$REAPED" -eq 0 ] || fail "the waiting client failed: $(cat "$TMP/third.out")"
kill -TERM "$second"
reap "$second" 50 "the second held client"
wait_for logged_at_least 2 "the last connection of a retired configuration closed" ||
	fail "the retired configurations were not both freed"
stop_weir
echo "reload ok"
