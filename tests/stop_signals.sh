#!/bin/sh
# SIGHUP and SIGUSR1 arriving while weir stops (after SIGTERM: during the drain, and during
# the teardown after it) are harmless: weir still exits 0, never killed by a signal's default
# action (status 129 or 138). A service manager may well reload or ask for statistics just
# as weir is being stopped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server source send --bytes 1g
printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n[backend app]\nserver = 127.0.0.1:%s\n' \
	"$SERVER_PORT" >"$TMP/weir.conf"
gauge='weir_frontend_connections{frontend="web"}'

rounds=20
passed=0
sent=0
r=1
while [ "$r" -le "$rounds" ]; do
	start_weir_conf "$TMP/weir.conf" --drain-timeout 300ms --stats 127.0.0.1:0
	wait_for grep -q "stats on 127.0.0.1:" "$TMP/weir.log" || fail "round $r: no stats endpoint"
	# A transfer that will not finish: weir drains it until the drain timeout cuts it.
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate 1m --expect 1g \
		--timeout 30 >/dev/null 2>&1 &
	client=$!
	PIDS="$PIDS $client"
	wait_for metric_is "$gauge" 1 || fail "round $r: the transfer is not open"
	# Odd rounds: a reload is already under way when SIGTERM comes.
	[ $((r % 2)) -eq 0 ] || kill -HUP "$WEIR_PID"
	kill -TERM "$WEIR_PID"
	# A burst at once (the drain), then more as fast as the shell sends them until weir has
	# exited (the rest of the drain, and the teardown), at most 100000 pairs (a few seconds).
	# A process that has exited but is not reaped yet takes signals too: /proc says Z.
	i=0
	while [ "$i" -lt 20 ]; do
		kill -HUP "$WEIR_PID" 2>/dev/null || true
		kill -USR1 "$WEIR_PID" 2>/dev/null || true
		i=$((i + 1))
	done
	while [ "$i" -lt 100000 ] && read -r _ _ state _ <"/proc/$WEIR_PID/stat"; do
		[ "$state" != Z ] || break
		kill -HUP "$WEIR_PID" 2>/dev/null || true
		kill -USR1 "$WEIR_PID" 2>/dev/null || true
		i=$((i + 1))
	done 2>/dev/null
	sent=$((sent + i))
	reap "$WEIR_PID" 50 "weir (round $r, after SIGTERM and a burst of SIGHUP/SIGUSR1)"
	[ "$REAPED" -eq 0 ] || fail "round $r: weir exited $REAPED after SIGTERM with SIGHUP/SIGUSR1" \
		"coming in (129 is SIGHUP's default action, 138 SIGUSR1's)"
	grep -q "drain timeout: drained 0 connections, cutting 1" "$TMP/weir.log" ||
		fail "round $r: the drain timeout did not cut the transfer"
	reap "$client" 50 "the cut transfer (round $r)"
	passed=$((passed + 1))
	r=$((r + 1))
done
echo "stop signals ok ($passed of $rounds rounds exited 0, $sent SIGHUP/SIGUSR1 pairs while stopping)"
