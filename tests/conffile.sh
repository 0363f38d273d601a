#!/bin/sh
# Two frontends with two backends from one config file: each frontend's clients reach its
# own backend's server, bytes intact, each logged with its backend and its server's name;
# per-frontend settings apply to their frontend only.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server a echo
port_a=$SERVER_PORT
start_server b echo
port_b=$SERVER_PORT
cat >"$TMP/weir.conf" <<CONF
[global]
log-level = info

[frontend one]
listen = 127.0.0.1:0
backend = alpha
idle-timeout = 1s

[frontend two]
  listen = 127.0.0.1:0
  backend = beta

[backend alpha]
server = 127.0.0.1:$port_a

[backend beta]
balance = leastconn
server = 127.0.0.1:$port_b weight=2 name=b1
CONF

: >"$TMP/weir.log"
"$WEIR" -c "$TMP/weir.conf" 2>>"$TMP/weir.log" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for grep -q "(frontend two)" "$TMP/weir.log" || fail "weir did not start from the file"
port_one=$(frontend_port one)
port_two=$(frontend_port two)

"$TCPKIT" client "127.0.0.1:$port_one" --connections 3 --bytes 1m --timeout 30 >/dev/null ||
	fail "frontend one did not relay"
"$TCPKIT" client "127.0.0.1:$port_two" --connections 5 --bytes 1m --timeout 30 >/dev/null ||
	fail "frontend two did not relay"
wait_for closed_at_least 8 || fail "expected 8 closed lines"
a="frontend=one backend=alpha server=127.0.0.1:$port_a server_name=127.0.0.1:$port_a"
[ "$(closed_lines | grep -c "$a end=client-closed")" -eq 3 ] ||
	fail "frontend one's clients did not all go to backend alpha"
b="frontend=two backend=beta server=127.0.0.1:$port_b server_name=b1"
[ "$(closed_lines | grep -c "$b end=client-closed")" -eq 5 ] ||
	fail "frontend two's clients did not all go to backend beta"

# idle-timeout = 1s is frontend one's alone: a silent client of two outlives one's.
"$TCPKIT" client "127.0.0.1:$port_one" --mode slow-read --expect 0 --timeout 10 >/dev/null &
quiet_one=$!
"$TCPKIT" client "127.0.0.1:$port_two" --mode slow-read --expect 0 --timeout 10 >/dev/null &
quiet_two=$!
PIDS="$PIDS $quiet_one $quiet_two"
reap "$quiet_one" 50 "frontend one's silent client (idle-timeout 1s)"
sleep 1
kill -0 "$quiet_two" 2>/dev/null || fail "frontend two's silent client was expired too"
kill "$quiet_two"
reap "$quiet_two" 50 "frontend two's silent client"
stop_weir
echo "config file ok"
