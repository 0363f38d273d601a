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
expect 64 "rcvbuf: '512' is too small: 0 (the kernel sizes it) or at least 1k" -l :1 \
	-b 127.0.0.1:1 --rcvbuf 512
expect 64 "sndbuf: '2g' is out of range" -l :1 -b 127.0.0.1:1 --sndbuf 2g
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
# ...in the order written, with each server's own options (send-proxy=none over the
# backend's, a resolve line's), and strings a file would cut short (a ';' starts a comment,
# blanks at either end are trimmed) escaped.
expect 0 "configuration ok" -t -l 127.0.0.1:8080 -b 127.0.0.1:9001,send-proxy=none \
	-b localhost:9002,resolve,send-proxy=v1,source=127.0.0.1:20000-20009,name=r \
	-b 127.0.0.1:9003,name=x --source 127.0.0.2:30000 --send-proxy v2 --health-send 'HELLO ;x' --health-expect ' OK ' --resolvers 127.0.0.1 \
	--user "$(id -un)" --pid-file "$TMP/été.pid"
grep -q "^server = 127.0.0.1:9001 weight=1 maxconn=0 send-proxy=none$" "$TMP/out" ||
	fail "-t lacks the server's send-proxy=none"
grep -q "^server = localhost:9002 resolve weight=1 maxconn=0 name=r send-proxy=v1 source=127.0.0.1:20000-20009$" \
	"$TMP/out" || fail "-t lacks the resolve line's options"
grep -q "^source = 127.0.0.2:30000$" "$TMP/out" || fail "-t lacks the backend's source"
sed -n 's/^server = //p' "$TMP/out" | cut -d' ' -f1 | tr '\n' ' ' >"$TMP/order"
[ "$(cat "$TMP/order")" = "127.0.0.1:9001 localhost:9002 127.0.0.1:9003 " ] ||
	fail "-t reordered the servers: $(cat "$TMP/order")"
grep -q '^health-send = HELLO \\x3bx$' "$TMP/out" || fail "-t wrote health-send as $(grep health-send "$TMP/out")"
grep -q '^health-expect = \\x20OK\\x20$' "$TMP/out" || fail "-t wrote health-expect as $(grep health-expect "$TMP/out")"
grep -q "^pid-file = $TMP/été.pid$" "$TMP/out" || fail "-t wrote pid-file as $(grep pid-file "$TMP/out")"
grep -v "^#" "$TMP/out" >"$TMP/roundtrip.conf"
cp "$TMP/out" "$TMP/first"
expect 0 "configuration ok" -t -c "$TMP/roundtrip.conf"
sed -n '/^\[backend/,$p' "$TMP/first" >"$TMP/a"
sed -n '/^\[backend/,$p' "$TMP/out" | sed 's/^\[backend .*/[backend default]/' >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "-t output does not read back the same: $(diff "$TMP/a" "$TMP/b")"
# A source range the wrong way round, or an IPv6 range without brackets, is refused.
expect 64 "'127.0.0.1:9-8' is not a source: IP, or IP:LO-HI" -t -l 127.0.0.1:0 -b 127.0.0.1:1 \
	--source 127.0.0.1:9-8
printf '[backend b]\nserver = [::1]:1\nsource = ::1:80-90\n[frontend f]\nlisten = 127.0.0.1:0\nbackend = b\n' \
	>"$TMP/v6range.conf"
expect 78 "'::1:80-90' is not a source" -t -c "$TMP/v6range.conf"
# -t checks the stats and admin addresses as starting does.
expect 78 "admin on 0.0.0.0:0: only a unix socket or a loopback address" -t -l 127.0.0.1:0 \
	-b 127.0.0.1:1 --admin 0.0.0.0:0
expect 78 "cannot resolve 'no-such-host.invalid:0'" -t -l 127.0.0.1:0 -b 127.0.0.1:1 \
	--stats no-such-host.invalid:0

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
expect 66 "$TMP: cannot read: Is a directory" -t -c "$TMP"
expect 78 "/dev/zero:1: line longer than" -t -c /dev/zero
expect 64 "unknown option '--bogus'" -c "$TMP/weir.conf" --bogus
expect 78 "cannot resolve 'no-such-host.invalid:80'" -t -l :1 -b no-such-host.invalid:80

# -t rejects what starting would: a listen host that does not resolve, the same address
# twice, a user or group that does not exist, a group without a user, a health-expect
# longer than a check reads, a second [global], listen options a TCP socket cannot take.
expect 78 "cannot resolve 'no-such-host.invalid:80'" -t -l no-such-host.invalid:80 -b 127.0.0.1:1
expect 78 "listens on 127.0.0.1:8080 twice" -t -l 127.0.0.1:8080 -l 127.0.0.1:8080 -b 127.0.0.1:1
expect 78 "listens on 0.0.0.0:8080 twice" -t -l :8080 -l 0.0.0.0:8080 -b 127.0.0.1:1
expect 78 "no user called 'no-such-user-here'" -t -l :1 -b 127.0.0.1:1 --user no-such-user-here
if id nobody >/dev/null 2>&1; then
	expect 78 "no group called 'no-such-group-here'" -t -l :1 -b 127.0.0.1:1 --user nobody \
		--group no-such-group-here
fi
expect 64 "group 'root' needs a user as well" -t -l :1 -b 127.0.0.1:1 --group root
expect 64 "needs a user as well" -l 127.0.0.1:0 -b 127.0.0.1:1 --group root
expect 64 "health-expect is longer than 1024 bytes" -t -l :1 -b 127.0.0.1:1 \
	--health-expect "$(head -c 1025 /dev/zero | tr '\0' x)"
expect 64 "mode, user and group apply to unix: sockets only" -t -l 127.0.0.1:1,mode=0600 -b 127.0.0.1:1
expect 64 "mode must be given once, in octal" -t -l "unix:$TMP/m.sock,mode=888" -b 127.0.0.1:1
expect 78 "no user called 'no-such-user-here'" -t -l "unix:$TMP/m.sock,user=no-such-user-here" \
	-b 127.0.0.1:1
printf '[global]\nlog-level = info\n[frontend a]\nlisten = 127.0.0.1:8080\nbackend = b\n[backend b]\nserver = 127.0.0.1:1\n[global]\nlog-level = debug\n' >"$TMP/g2.conf"
expect 78 "g2.conf:8: \[global\] is defined twice (first at line 1)" -t -c "$TMP/g2.conf"
printf '[frontend a]\nlisten = 127.0.0.1:8080\nbackend = b\n[frontend c]\nlisten = 127.0.0.1:8080\nbackend = b\n[backend b]\nserver = 127.0.0.1:1\n' >"$TMP/twice.conf"
expect 78 "twice.conf:4: frontend 'c' listens on 127.0.0.1:8080, as frontend 'a' does" -t -c "$TMP/twice.conf"
printf '[global]\ngroup = root\n[frontend a]\nlisten = 127.0.0.1:8080\nbackend = b\n[backend b]\nserver = 127.0.0.1:1\n' >"$TMP/group.conf"
expect 78 "group 'root' needs a user as well" -t -c "$TMP/group.conf"

# A listener that cannot bind: 71, and the listeners opened before it are closed again.
start_server busy echo
expect 71 "cannot listen on 127.0.0.1:$SERVER_PORT" \
	-l "unix:$TMP/first.sock" -l "127.0.0.1:$SERVER_PORT" -b 127.0.0.1:1
[ ! -e "$TMP/first.sock" ] || fail "the unix listener opened before the failure was left behind"

# A unix socket in a directory that does not exist: a bind failure like any other.
expect 71 "cannot listen on unix:$TMP/no/such/dir/w.sock" -l "unix:$TMP/no/such/dir/w.sock" -b 127.0.0.1:1

# A unix socket's mode and owner are set before weir drops privileges, so clients of that
# user can connect after it; the file goes when weir stops (from a directory the user may
# write, as systemd's RuntimeDirectory= gives it).
start_server backend echo
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
	group=$(id -gn nobody)
	chmod 755 "$TMP"
	mkdir "$TMP/run"
	chown nobody "$TMP/run"
	: >"$TMP/weir.log"
	"$WEIR" -l "unix:$TMP/run/m.sock,mode=0660,user=nobody,group=$group" -b "127.0.0.1:$SERVER_PORT" \
		--user nobody 2>>"$TMP/weir.log" &
	WEIR_PID=$!
	PIDS="$PIDS $WEIR_PID"
	wait_for grep -q "running as uid" "$TMP/weir.log" || fail "weir did not start as nobody"
	[ "$(stat -c '%a %U %G' "$TMP/run/m.sock")" = "660 nobody $group" ] ||
		fail "unix socket is $(stat -c '%a %U %G' "$TMP/run/m.sock"), expected 660 nobody $group"
	setpriv --reuid=nobody --regid="$group" --clear-groups \
		"$TCPKIT" client "unix:$TMP/run/m.sock" --bytes 64k --timeout 10 >/dev/null ||
		fail "user nobody could not use the unix socket"
	stop_weir
	[ ! -e "$TMP/run/m.sock" ] || fail "the unix socket file was left behind"
else
	: >"$TMP/weir.log"
	"$WEIR" -l "unix:$TMP/m.sock,mode=0600" -b "127.0.0.1:$SERVER_PORT" 2>>"$TMP/weir.log" &
	WEIR_PID=$!
	PIDS="$PIDS $WEIR_PID"
	wait_for test -S "$TMP/m.sock" || fail "no unix socket"
	[ "$(stat -c '%a' "$TMP/m.sock")" = 600 ] || fail "unix socket mode is not 600"
	stop_weir
	echo "not root: unix socket owners not tried"
fi

# A TCP port held by another weir (whose listeners set SO_REUSEPORT too) is not shared.
start_weir -b "127.0.0.1:$SERVER_PORT"
expect 71 "cannot listen on 127.0.0.1:$WEIR_PORT: Address already in use" \
	-l "127.0.0.1:$WEIR_PORT" -b 127.0.0.1:1
stop_weir

# A unix socket path held by a live listener is not taken over; a stale one is reused.
start_weir -l "unix:$TMP/live.sock" -b "127.0.0.1:$SERVER_PORT"
expect 71 "another process is listening" -l "unix:$TMP/live.sock" -b 127.0.0.1:1
stop_weir
[ ! -e "$TMP/live.sock" ] || fail "weir left its unix socket file behind"
echo "cli ok"
