#!/bin/sh
# A log reader that stalls must not stop the proxy. weir's stderr is a pipe that a process
# holds open and never reads (as a throttled journald or a paused terminal would): weir
# still serves 10,000 connections, /metrics counts the log lines it had to drop, and once a
# reader drains the pipe it gets whole lines and one saying how many were dropped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
echo_port=$SERVER_PORT
WEIR_PORT=$(free_port)
sport=$(free_port)
while [ "$sport" = "$WEIR_PORT" ]; do sport=$(free_port); done

mkfifo "$TMP/log.fifo"
sleep 600 <"$TMP/log.fifo" &
PIDS="$PIDS $!"
"$WEIR" -l "127.0.0.1:$WEIR_PORT" -b "127.0.0.1:$echo_port" --stats "127.0.0.1:$sport" \
	2>"$TMP/log.fifo" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1 --timeout 2 >/dev/null 2>&1 ||
	fail "weir did not start"
# The workers may serve before the stats listener opens (its log line cannot be waited for).
wait_for listening_on "$sport" || fail "the stats endpoint did not open"

count() { # SERIES
	http_get "$sport" /metrics | awk -v k="$1" '$1 == k { print $2 }'
}
total='weir_frontend_connections_total{frontend="default"}'
i=0
while [ "$(count "$total")" -lt 10000 ]; do
	[ "$i" -lt 10 ] || fail "only $(count "$total") connections served while the log was stalled"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode connect --connections 8 --duration 2 \
		--timeout 10 >"$TMP/connect.out" 2>&1 ||
		fail "clients failed while the log was stalled: $(cat "$TMP/connect.out")"
	i=$((i + 1))
done
served=$(count "$total")
dropped=$(count weir_log_dropped_total)
echo "served $served connections while nobody read the log; $dropped log lines dropped"
[ "$dropped" -gt 0 ] || fail "no dropped log lines counted"

# A reader comes back: it gets whole lines, and the count of what was lost.
cat "$TMP/log.fifo" >"$TMP/weir.log" &
PIDS="$PIDS $!"
wait_for grep -q "log lines dropped: the log reader fell behind" "$TMP/weir.log" ||
	fail "no line said how many log lines were dropped"
grep -v '^20[0-9-]*T[0-9:.]*Z [a-z]*: ' "$TMP/weir.log" >"$TMP/torn" || true
[ ! -s "$TMP/torn" ] || fail "torn log lines: $(head -n 3 "$TMP/torn")"
stop_weir
echo "stalled log ok"
