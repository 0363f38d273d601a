#!/bin/sh
# A reload that cannot be applied leaves weir exactly as it was. Each way it can fail late is
# tried with a client connected across it: a new listen port that is taken, a listen host
# that does not resolve, a port weir may no longer bind once it runs as --user. Each time the
# failure is logged with its reason, systemd hears RELOADING=1 then READY=1 with a STATUS
# saying the reload failed, the held client leaves cleanly, the next client is served and
# the server's count returns to 0. (A use-after-free on this path aborts weir under ASan,
# and the final stop then fails.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
: "${SDKIT:?}"

start_server echo echo
echo_port=$SERVER_PORT
start_server busy echo
busy=$SERVER_PORT
"$SDKIT" notify-listen "$TMP/notify.sock" "$TMP/notify.out" &
PIDS="$PIDS $!"
wait_for test -S "$TMP/notify.sock" || fail "notify socket did not appear"

# write_conf PORT [LINES...]: frontend web on 127.0.0.1:PORT, plus LINES (a second frontend).
write_conf() {
	{
		printf '[global]\nstats = 127.0.0.1:0\n'
		printf '[frontend web]\nlisten = 127.0.0.1:%s\nbackend = app\n' "$1"
		shift
		for line in "$@"; do printf '%s\n' "$line"; done
		printf '[backend app]\nserver = 127.0.0.1:%s\n' "$echo_port"
	} >"$TMP/weir.conf"
}

# fails_with N REASON: failed reload N (of this test; the log has this weir's only) is
# logged with REASON and announced to systemd.
logged_failures=0
fails_with() {
	logged_failures=$((logged_failures + 1))
	wait_for logged_at_least "$logged_failures" "reload failed, keeping the running configuration" ||
		fail "reload $1 did not fail"
	grep "reload failed" "$TMP/weir.log" | tail -n 1 | grep -q -- "$2" ||
		fail "reload $1 did not fail with '$2'"
	wait_for notified_at_least "$1" '^STATUS=reload failed' ||
		fail "systemd was not told reload $1 failed"
	[ "$(grep -c '^RELOADING=1$' "$TMP/notify.out")" -ge "$1" ] || fail "no RELOADING=1"
	[ "$(tail -n 2 "$TMP/notify.out" | head -n 1)" = "READY=1" ] ||
		fail "READY=1 did not follow the failed reload: $(tail -n 3 "$TMP/notify.out")"
}

notified_at_least() { # N PATTERN
	[ "$(grep -c -- "$2" "$TMP/notify.out")" -ge "$1" ]
}

server_count="weir_server_connections{backend=\"app\",server=\"127.0.0.1:$echo_port\"}"

# try_failing_reload N REASON LINES...: the running weir is asked to add LINES and fails.
try_failing_reload() {
	n=$1 reason=$2
	shift 2
	hold_client "held$n"
	write_conf "$WEIR_PORT" "$@"
	kill -HUP "$WEIR_PID"
	fails_with "$n" "$reason"
	release "$HELD" "the client held across failed reload $n"
	served "after failed reload $n"
	wait_for metric_is "$server_count" 0 ||
		fail "the server's count is $(metric "$server_count") after failed reload $n, not 0"
	kill -0 "$WEIR_PID" 2>/dev/null || fail "weir died after failed reload $n"
}

write_conf 0
NOTIFY_SOCKET="$TMP/notify.sock" start_weir_conf "$TMP/weir.conf"
wait_for grep -q "^READY=1$" "$TMP/notify.out" || fail "READY=1 never arrived"

try_failing_reload 1 "cannot listen on 127.0.0.1:$busy: Address already in use" \
	'[frontend two]' "listen = 127.0.0.1:$busy" 'backend = app'
try_failing_reload 2 "cannot resolve 'no-such-host.invalid:80'" \
	'[frontend two]' 'listen = no-such-host.invalid:80' 'backend = app'
grep -q "listening on 127.0.0.1:$busy" "$TMP/weir.log" && fail "the failed listener was logged as open"

# A good reload after the failed ones applies, and the stats show no drift.
write_conf "$WEIR_PORT" '[frontend two]' 'listen = 127.0.0.1:0' 'backend = app'
kill -HUP "$WEIR_PID"
wait_for logged_at_least 1 "reloaded: 2 frontend(s), 1 server(s)" || fail "the good reload"
served "after the good reload"
wait_for metric_is "$server_count" 0 || fail "the count drifted: $(metric "$server_count")"
stop_weir

# After --user, a privileged port can no longer be bound: the reload fails, weir serves on.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	write_conf 0
	chmod 755 "$TMP" # as /etc/weir is: nobody must read the file again on SIGHUP
	chmod 644 "$TMP/weir.conf"
	chmod 666 "$TMP/notify.sock" # as systemd's is, for a service with User=
	NOTIFY_SOCKET="$TMP/notify.sock" start_weir_conf "$TMP/weir.conf" --user nobody
	logged_failures=0
	try_failing_reload 3 "cannot listen on 127.0.0.1:1: Permission denied" \
		'[frontend low]' 'listen = 127.0.0.1:1' 'backend = app'
	stop_weir
else
	echo "not root: the reload after --user is not tried"
fi
echo "failed reloads ok"
