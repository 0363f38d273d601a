#!/bin/sh
# The command line: help, version, check mode, and every kind of mistake gets a clear message
# and the documented exit status, with nothing left listening.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

# expect STATUS PATTERN ARGS...: weir ARGS exits STATUS and prints PATTERN (to either stream).
expect() {
	want=$1
	pattern=$2
	shift 2
	status=0
	"$WEIR" "$@" >"$TMP/out" 2>&1 || status=$?
	[ "$status" -eq "$want" ] || fail "weir $*: exit $status, expected $want: $(cat "$TMP/out")"
	grep -q -- "$pattern" "$TMP/out" || fail "weir $*: output lacks '$pattern': $(cat "$TMP/out")"
}

expect 0 "^Usage: weir" --help
expect 0 "Report bugs to:" -h
expect 0 "--connect-timeout DUR" --help
expect 0 "^weir [0-9]" --version
expect 0 "^libev 4\.[0-9]* (backend " -V

# Usage errors: 64, one line naming the problem, then the hint.
expect 64 "Try 'weir --help' for more information." --bogus
expect 64 "unknown option '--bogus'" --bogus
expect 64 "give at least one -l" -b 127.0.0.1:80
expect 64 "give at least one -b" -l :8080
expect 64 "option '-l' needs a value" -l
expect 64 "connect-timeout: '5parsecs' is not a duration" -l :1 -b 127.0.0.1:1 --connect-timeout 5parsecs
expect 64 "buffer-size: '1g' is out of range" -l :1 -b 127.0.0.1:1 --buffer-size 1g
expect 64 "needs brackets" -l ::1:80 -b 127.0.0.1:1
expect 64 "weight must be a number" -l :1 -b 127.0.0.1:1,weight=abc
expect 64 "unexpected argument 'stray'" -l :1 -b 127.0.0.1:1 stray

# Check mode: the effective configuration with defaults filled in, in config file syntax.
expect 0 "configuration ok" -t -l 127.0.0.1:8080 -b 127.0.0.1:9001,weight=2 -b '[::1]:9002,backup'
grep -q "^server = 127.0.0.1:9001 weight=2 maxconn=0$" "$TMP/out" || fail "-t lacks the server line"
grep -q "^server = \[::1\]:9002 weight=1 maxconn=0 backup$" "$TMP/out" || fail "-t lacks the backup"
grep -q "^connect-timeout = 5s$" "$TMP/out" || fail "-t lacks the default connect-timeout"
grep -q "^buffer-size = 64k$" "$TMP/out" || fail "-t lacks the default buffer-size"
# ...which weir reads back as the same configuration.
grep -v "^#" "$TMP/out" >"$TMP/roundtrip.conf"
cp "$TMP/out" "$TMP/first"
expect 0 "configuration ok" -t -c "$TMP/roundtrip.conf"
sed 's/^\[frontend .*/[frontend]/; s/^\[backend .*/[backend]/; s/^backend = .*//' "$TMP/first" >"$TMP/a"
sed 's/^\[frontend .*/[frontend]/; s/^\[backend .*/[backend]/; s/^backend = .*//' "$TMP/out" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "-t output does not read back as the same configuration"

# A config file: errors name the file and line and exit 78; an unreadable file exits 66.
cat >"$TMP/weir.conf" <<CONF
[global]
log-level = warning

[frontend web]
listen = 127.0.0.1:8080
backend = app

[backend app]
server = 127.0.0.1:9001 weight=2
CONF
expect 0 "^\[frontend web\]" -t -c "$TMP/weir.conf"
grep -q "^log-level = warning$" "$TMP/out" || fail "-t -c lacks the file's log-level"
expect 0 "^log-level = debug$" -t -c "$TMP/weir.conf" --log-level debug
printf '[frontend web]\nlisten = :80\nlistne = :81\n' >"$TMP/bad.conf"
expect 78 "$TMP/bad.conf:3: unknown key \"listne\" in \[frontend web\]" -t -c "$TMP/bad.conf"
expect 78 "bad.conf:3: unknown key" -c "$TMP/bad.conf"
expect 66 "cannot read $TMP/missing.conf" -c "$TMP/missing.conf"
expect 64 "unknown option '--bogus'" -c "$TMP/weir.conf" --bogus
expect 78 "cannot resolve 'no-such-host.invalid:80'" -t -l :1 -b no-such-host.invalid:80

# A listener that cannot bind: 71, and the listeners opened before it are closed again.
start_server busy echo
expect 71 "cannot listen on 127.0.0.1:$SERVER_PORT" \
	-l "unix:$TMP/first.sock" -l "127.0.0.1:$SERVER_PORT" -b 127.0.0.1:1
[ ! -e "$TMP/first.sock" ] || fail "the unix listener opened before the failure was left behind"

# A unix socket path held by a live listener is not taken over; a stale one is reused.
start_weir -l "unix:$TMP/live.sock" -b "127.0.0.1:$SERVER_PORT"
expect 71 "another process is listening" -l "unix:$TMP/live.sock" -b 127.0.0.1:1
stop_weir
[ ! -e "$TMP/live.sock" ] || fail "weir left its unix socket file behind"
echo "cli ok"
