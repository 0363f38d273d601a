#!/bin/sh
# Out of local ports (connect fails with EADDRNOTAVAIL) is weir's own shortage, not the
# server's fault: the client is closed (reset, for a TCP client) and logged as local-error,
# the server is neither counted as failing nor marked DOWN (fall 1), and the log says so at
# most once a second however many clients it hits.
# Tried in a network namespace of the test's own whose local port range is two ports.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

if [ -z "${WEIR_IN_NETNS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v unshare >/dev/null 2>&1 || skip "no unshare"
	trap - EXIT
	rm -rf "$TMP"
	exec unshare -n env WEIR_IN_NETNS=1 bash "$0"
fi
ip link set lo up || skip "cannot bring up loopback in the namespace"

start_server echo echo
# Clients come in over a unix socket, so only weir's connects to the server use ports.
: >"$TMP/weir.log"
"$WEIR" -l "unix:$TMP/w.sock" -b "127.0.0.1:$SERVER_PORT" --fall 1 --stats 127.0.0.1:0 \
	2>>"$TMP/weir.log" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for grep -q "stats on" "$TMP/weir.log" || fail "weir did not start"
# Two local ports from now on, neither of them one the listeners took.
sport=$(stats_port)
lo=50100
while [ "$lo" -eq "$SERVER_PORT" ] || [ "$lo" -eq "$sport" ] || [ $((lo + 1)) -eq "$SERVER_PORT" ] ||
	[ $((lo + 1)) -eq "$sport" ]; do lo=$((lo + 2)); done
echo "$lo $((lo + 1))" >/proc/sys/net/ipv4/ip_local_port_range || skip "cannot narrow the port range"
"$TCPKIT" client "unix:$TMP/w.sock" --mode hold --connections 2 --ready-file "$TMP/held" \
	--timeout 60 >/dev/null 2>&1 &
holder=$!
PIDS="$PIDS $holder"
wait_for test -s "$TMP/held" || fail "two clients were not served"
refused=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	if "$TCPKIT" client "unix:$TMP/w.sock" --bytes 1k --timeout 5 >"$TMP/c$i.out" 2>&1; then
		fail "client $i was served with no local port left"
	fi
	refused=$((refused + 1))
done
server="backend=\"default\",server=\"127.0.0.1:$SERVER_PORT\""
[ "$(metric "weir_server_up{$server}")" = 1 ] || fail "the server was marked DOWN for weir's shortage"
[ "$(metric "weir_server_connect_failures_total{$server}")" = 0 ] ||
	fail "weir's shortage was counted against the server"
[ "$(grep -c "Cannot assign requested address" "$TMP/weir.log")" -le 2 ] ||
	fail "the shortage was logged once per client: $(grep -c "Cannot assign" "$TMP/weir.log") lines"
wait_for logged_at_least 10 "end=local-error" || fail "not every refused client was logged"
[ "$(closed_lines | grep -c "end=local-error")" -eq 10 ] || fail "more refused clients logged than refused"
release "$holder" "the two held clients"
stop_weir
echo "out of local ports ok ($refused clients reset, the server stayed UP)"
