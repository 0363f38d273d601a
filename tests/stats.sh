#!/bin/sh
# /metrics and /stats answer with counts that match the traffic sent; SIGUSR1 logs a summary.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
start_server gone echo
dead=$SERVER_PORT
kill "$SERVER_PID"
reap "$SERVER_PID" 50 "the placeholder server"
start_weir -b "127.0.0.1:$dead" -b "127.0.0.1:$(cat "$TMP/echo.port")" --stats 127.0.0.1:0 --fall 1
wait_for grep -q "stats on 127.0.0.1:" "$TMP/weir.log" || fail "no stats endpoint"
sport=$(sed -n 's/.*stats on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/weir.log")

# One after another, so the dead server is found DOWN (fall 1) after the first refusal.
for i in 1 2 3 4 5; do
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 100000 --timeout 30 >/dev/null ||
		fail "client $i was not relayed"
done
wait_for closed_at_least 5 || fail "connections did not close"

http_get "$sport" /metrics >"$TMP/metrics"
grep -q "^HTTP/1.0 200 OK$" "$TMP/status" || fail "/metrics: $(cat "$TMP/status")"
expect_metric() {
	grep -qx -- "$1" "$TMP/metrics" || fail "/metrics lacks '$1': $(grep "${1%% *}" "$TMP/metrics")"
}
expect_metric 'weir_frontend_connections_total{frontend="default"} 5'
expect_metric 'weir_frontend_connections{frontend="default"} 0'
expect_metric 'weir_frontend_bytes_total{frontend="default",direction="to_server"} 500000'
expect_metric 'weir_frontend_bytes_total{frontend="default",direction="to_client"} 500000'
expect_metric 'weir_connections_closed_total{reason="client-closed"} 5'
expect_metric "weir_server_up{backend=\"default\",server=\"127.0.0.1:$dead\"} 0"
expect_metric "weir_server_connect_failures_total{backend=\"default\",server=\"127.0.0.1:$dead\"} 1"
expect_metric 'weir_backend_retries_total{backend="default"} 1'
expect_metric 'weir_backend_queued{backend="default"} 0'
expect_metric 'weir_reserve_uses_total 0'
expect_metric 'weir_accept_errors_total{kind="emfile"} 0'
grep -q '^# TYPE weir_frontend_connections_total counter$' "$TMP/metrics" || fail "no TYPE lines"

http_get "$sport" /stats >"$TMP/stats.json"
grep -q "^HTTP/1.0 200 OK$" "$TMP/status" || fail "/stats: $(cat "$TMP/status")"
grep -q '"frontends":\[{"name":"default","backend":"default","connections":0,"total":5,"bytes_to_server":500000,"bytes_to_client":500000,"denied":0,"source_limited":0}\]' \
	"$TMP/stats.json" || fail "/stats frontends wrong: $(cat "$TMP/stats.json")"
grep -q "{\"name\":\"127.0.0.1:$dead\",\"address\":\"127.0.0.1:$dead\",\"state\":\"DOWN\",\"admin\":\"ready\"" \
	"$TMP/stats.json" || fail "/stats does not show the dead server DOWN"
grep -q '"closed":{"client-closed":5,' "$TMP/stats.json" || fail "/stats closed counts wrong"

http_get "$sport" /nope >/dev/null
grep -q "^HTTP/1.0 404" "$TMP/status" || fail "unknown path: $(cat "$TMP/status")"

kill -USR1 "$WEIR_PID"
wait_for grep -q "stats connections=0 accepted=5 servers_up=1 servers=2" "$TMP/weir.log" ||
	fail "SIGUSR1 logged no summary"
stop_weir

# Servers are one series each, named as the admin interface names them: duplicates of one
# address or name numbered, a name= rather than its address.
e=$(cat "$TMP/echo.port")
start_weir -b "127.0.0.1:$e" -b "127.0.0.1:$e" -b "127.0.0.1:$e,name=x" -b "127.0.0.1:$e,name=x" \
	--stats 127.0.0.1:0
http_get "$(stats_port)" /metrics | grep '^weir_server_up{' >"$TMP/metrics"
printf 'weir_server_up{backend="default",server="%s"} 1\n' "127.0.0.1:$e" "127.0.0.1:$e#2" x \
	'x#2' >"$TMP/expected"
cmp -s "$TMP/expected" "$TMP/metrics" || fail "server series: $(cat "$TMP/metrics")"
# Stats on an address something listens on (another weir's frontend, its own) is refused,
# not shared with it: the kernel would split the requests between the two sockets (a weir
# that starts anyway is stopped after 10 s: exit 124).
status=0
timeout 10 "$WEIR" -l 127.0.0.1:0 -b 127.0.0.1:1 --stats "127.0.0.1:$WEIR_PORT" 2>"$TMP/second.err" ||
	status=$?
[ "$status" -eq 71 ] && grep -q "Address already in use" "$TMP/second.err" ||
	fail "stats on another weir's frontend port: exit $status, $(cat "$TMP/second.err")"
own=$(free_port)
status=0
timeout 10 "$WEIR" -l "127.0.0.1:$own" -b 127.0.0.1:1 --stats "127.0.0.1:$own" 2>"$TMP/second.err" ||
	status=$?
[ "$status" -eq 71 ] || fail "stats on its own frontend's port: exit $status, $(cat "$TMP/second.err")"
stop_weir

# A unix-socket stats endpoint is removed when weir stops.
start_weir -b "127.0.0.1:$(cat "$TMP/echo.port")" --stats "unix:$TMP/stats.sock"
wait_for test -S "$TMP/stats.sock" || fail "no unix stats socket"
# A second weir wanting the same stats socket fails, and leaves the first one's alone.
status=0
"$WEIR" -l 127.0.0.1:0 -b 127.0.0.1:1 --stats "unix:$TMP/stats.sock" 2>"$TMP/second.err" ||
	status=$?
[ "$status" -eq 71 ] || fail "a second weir on the same stats socket exited $status"
test -S "$TMP/stats.sock" || fail "the failed second weir removed the first one's stats socket"
# A weir that dies leaves its socket file behind; the next one replaces it and starts.
kill -KILL "$WEIR_PID"
reap "$WEIR_PID" 50 "the killed weir"
test -S "$TMP/stats.sock" || fail "expected the killed weir's stats socket to be left behind"
start_weir -b "127.0.0.1:$(cat "$TMP/echo.port")" --stats "unix:$TMP/stats.sock"
wait_for grep -q "stats on unix:$TMP/stats.sock" "$TMP/weir.log" || fail "a stale stats socket blocked the start"
stop_weir
[ ! -e "$TMP/stats.sock" ] || fail "the unix stats socket was left behind"
echo "stats ok"
