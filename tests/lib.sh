# Sourced by the integration tests: a temp dir, processes started and stopped by pid, bounded
# waits. Exit status: 0 pass, 1 fail, 77 skip, 99 hard error (automake's convention).
set -eu
# Logs may hold any bytes (names are not checked for UTF-8): grep and sed see bytes.
export LC_ALL=C

: "${WEIR:?run through make check, or set WEIR to the weir binary}"
: "${TCPKIT:?run through make check, or set TCPKIT to tests/tcpkit}"
: "${WEIR_SANITIZED:=no}"
# Any sanitizer (yes: ASan and UBSan; thread: TSan) makes weir slower: tests that time it
# allow for that.
[ "$WEIR_SANITIZED" = no ] || WEIR_SANITIZED=yes

TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-test.XXXXXX")
PIDS=""

cleanup() {
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $PIDS; do
		stop_wait "$p" 50 || kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

fail() {
	echo "FAIL: $*" >&2
	if [ -s "$TMP/weir.log" ]; then
		echo "--- last lines of weir's log:" >&2
		tail -n 20 "$TMP/weir.log" >&2
	fi
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# stop_wait PID TENTHS: wait up to TENTHS/10 s for PID to exit; false if it is still there.
stop_wait() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		[ "$i" -lt "$2" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

forget_pid() {
	PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
}

# reap PID TENTHS WHAT: PID must exit within TENTHS/10 s; sets REAPED to its exit status.
reap() {
	stop_wait "$1" "$2" || fail "$3 did not exit within $(($2 / 10)) s"
	REAPED=0
	wait "$1" || REAPED=$?
	forget_pid "$1"
}

# wait_for CMD...: run CMD every 0.1 s until it succeeds, at most 10 s.
wait_for() {
	i=0
	until "$@"; do
		[ "$i" -lt 100 ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# now_ms: the time of day in ms.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# start_server NAME MODE [ARGS...]: a tcpkit server on 127.0.0.1 (on a port the kernel
# picks); sets SERVER_PORT, SERVER_PID.
start_server() {
	start_server_on 0 "$@"
}

# start_server_on PORT NAME MODE [ARGS...]: the same on PORT. A server the test stops and
# starts again on its port takes PORT from free_port: while it is down, a port the kernel
# picked could go to another test's bind to port 0 (tests run in parallel).
start_server_on() {
	name=$2
	mode=$3
	at=$1
	shift 3
	"$TCPKIT" server "127.0.0.1:$at" --port-file "$TMP/$name.port" --mode "$mode" "$@" \
		2>>"$TMP/$name.log" &
	SERVER_PID=$!
	PIDS="$PIDS $SERVER_PID"
	wait_for test -s "$TMP/$name.port" || fail "server $name did not start"
	SERVER_PORT=$(cat "$TMP/$name.port")
}

# started: weir has logged that it runs, which it does once every listener (stats and admin
# too) is open.
started() {
	grep -q 'weir [^ ]* running: ' "$TMP/weir.log"
}

# start_weir ARGS...: weir listening on 127.0.0.1:0 plus ARGS, started; sets WEIR_PORT and
# WEIR_PID.
start_weir() {
	: >"$TMP/weir.log"
	"$WEIR" -l 127.0.0.1:0 "$@" 2>>"$TMP/weir.log" &
	WEIR_PID=$!
	PIDS="$PIDS $WEIR_PID"
	wait_for started || fail "weir did not start"
	WEIR_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/weir.log" |
		head -n 1)
}

# start_weir_conf FILE [ARGS...]: weir -c FILE ARGS, started; sets WEIR_PID and WEIR_PORT
# (the port of the first 127.0.0.1 listener it logs).
start_weir_conf() {
	conf=$1
	shift
	: >"$TMP/weir.log"
	"$WEIR" -c "$conf" "$@" 2>>"$TMP/weir.log" &
	WEIR_PID=$!
	PIDS="$PIDS $WEIR_PID"
	wait_for started || fail "weir did not start from $conf"
	WEIR_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/weir.log" |
		head -n 1)
}

# stop_weir: SIGTERM, then weir must exit 0 within 5 s.
stop_weir() {
	kill -TERM "$WEIR_PID"
	reap "$WEIR_PID" 50 "weir (after SIGTERM)"
	[ "$REAPED" -eq 0 ] || fail "weir exited $REAPED after SIGTERM, expected 0"
}

# refused_within MS WHAT: a client of weir must fail (be closed, not served) within MS ms.
# Sets ELAPSED_MS.
refused_within() {
	start=$(date +%s%N)
	if "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 10 >/dev/null 2>&1; then
		fail "a client was served $2"
	fi
	ELAPSED_MS=$((($(date +%s%N) - start) / 1000000))
	[ "$ELAPSED_MS" -lt "$1" ] || fail "a client waited $ELAPSED_MS ms $2"
}

# start_waiting_client OUT WHY: a client of weir (64 KiB echoed) that must still be waiting
# half a second later (WHY names what let it through if not); sets WAITER, output in OUT.
start_waiting_client() {
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 30 >"$1" 2>&1 &
	WAITER=$!
	PIDS="$PIDS $WAITER"
	sleep 0.5
	kill -0 "$WAITER" 2>/dev/null || fail "a client got through $2"
}

# ctl ARGS...: weir ctl on the admin socket $TMP/admin.sock (weir started with
# --admin unix:$TMP/admin.sock).
ctl() {
	"$WEIR" ctl --socket "unix:$TMP/admin.sock" "$@"
}

# rss_kb PID: resident memory in KiB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# closed_lines: weir's per-connection log lines.
closed_lines() {
	grep ' closed client=' "$TMP/weir.log" || true
}

# closed_at_least N: weir has logged at least N closed connections (for wait_for, which
# must re-evaluate the count on every try rather than once when it is called).
closed_at_least() {
	[ "$(closed_lines | wc -l)" -ge "$1" ]
}

# logged_at_least N PATTERN: weir's log has at least N lines matching PATTERN.
logged_at_least() {
	[ "$(grep -c -- "$2" "$TMP/weir.log" || true)" -ge "$1" ]
}

# http_get PORT PATH: the body of GET PATH from 127.0.0.1:PORT (weir's stats endpoint); the
# status line goes to $TMP/status. Needs bash, for /dev/tcp.
http_get() {
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf 'GET %s HTTP/1.0\r\nHost: test\r\n\r\n' "$2" >&3
	timeout 5 cat <&3 >"$TMP/response"
	exec 3<&-
	head -n 1 "$TMP/response" | tr -d '\r' >"$TMP/status"
	sed '1,/^\r$/d' "$TMP/response"
}

# stats_port: the port of the stats endpoint weir logged last.
stats_port() {
	sed -n 's/.*stats on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/weir.log" | tail -n 1
}

# frontend_port NAME: the port weir logged for frontend NAME on 127.0.0.1.
frontend_port() {
	sed -n "s/.*listening on 127\.0\.0\.1:\([0-9]*\) (frontend $1).*/\1/p" "$TMP/weir.log" |
		tail -n 1
}

# metric SERIES: the value of one series of weir's /metrics, as written there
# (weir_server_connections{backend="b",server="127.0.0.1:80"}). Needs bash.
metric() {
	http_get "$(stats_port)" /metrics | awk -v k="$1" '$1 == k { print $2 }'
}

# metric_is SERIES VALUE: for wait_for.
metric_is() {
	[ "$(metric "$1")" = "$2" ]
}

# hold_client NAME [N]: N clients (default 1) of weir held open by one tcpkit; sets HELD.
hold_client() {
	rm -f "$TMP/$1.ready"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode hold --connections "${2:-1}" \
		--ready-file "$TMP/$1.ready" --timeout 60 >/dev/null 2>&1 &
	HELD=$!
	PIDS="$PIDS $HELD"
	wait_for test -s "$TMP/$1.ready" || fail "client(s) $1 were not served"
}

# release PID WHAT: stop a held client and reap it.
release() {
	kill -TERM "$1"
	reap "$1" 50 "$2"
}

# served WHAT: a fresh client of weir is relayed, every byte checked.
served() {
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 10 >/dev/null 2>&1 ||
		fail "no client served $1"
}

# free_port: a TCP port no socket uses now, below the ephemeral range (so that no client's
# connection, or its TIME_WAIT, takes it before the test does).
free_port() {
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	while :; do
		p=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % (lo - 10000)))
		ss -Htan "sport = :$p" | grep -q . || break
	done
	echo "$p"
}

# listening_on PORT: something listens on 127.0.0.1:PORT (for wait_for).
listening_on() {
	ss -Htln "sport = :$1" | grep -q .
}

# connected_to PORT: weir has a connection established to 127.0.0.1:PORT (for wait_for: it
# has taken a client and reached its server).
connected_to() {
	ss -Htnp state established "dst 127.0.0.1:$1" | grep -q "pid=$WEIR_PID,"
}

# connecting_to PORT: weir has a connect to 127.0.0.1:PORT under way, its SYN unanswered (for
# wait_for). Only weir's: a black hole's own connects that fill its queue hang there too.
connecting_to() {
	ss -Htnp state syn-sent "dst 127.0.0.1:$1" | grep -q "pid=$WEIR_PID,"
}
