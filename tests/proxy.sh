#!/bin/sh
# The PROXY protocol, on loopback, in both versions:
#  - a weir that sends headers (send-proxy) in front of a weir that accepts them
#    (accept-proxy): bytes intact both ways, and the second logs the real client;
#  - headers written by hand, arriving a byte at a time: the address they name is the one
#    logged;
#  - a client with no header, a malformed one, or one too slow: reset, counted, not relayed;
#  - HAProxy on either side (send-proxy-v2 to weir; weir's v1 to accept-proxy).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
echo_port=$SERVER_PORT

# weir_at NAME ARGS...: another weir on 127.0.0.1:0 with its own log; sets its PORT and PID.
weir_at() {
	name=$1
	shift
	: >"$TMP/$name.log"
	"$WEIR" -l 127.0.0.1:0 "$@" 2>>"$TMP/$name.log" &
	eval "${name}_pid=$!"
	PIDS="$PIDS $!"
	wait_for grep -q "listening on 127.0.0.1:" "$TMP/$name.log" || fail "weir $name did not start"
	eval "${name}_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.log" | head -n 1)"
}

stop_at() { # NAME
	eval "pid=\$${1}_pid"
	kill -TERM "$pid"
	reap "$pid" 50 "weir $1"
	[ "$REAPED" -eq 0 ] || fail "weir $1 exited $REAPED"
}

both_logged() { # each weir logged both clients
	[ "$(grep -c " closed client=" "$TMP/outer.log")" -ge 2 ] &&
		[ "$(grep -c " closed client=" "$TMP/inner.log")" -ge 2 ]
}

for v in 1 2; do
	weir_at inner -b "127.0.0.1:$echo_port" --accept-proxy "v$v"
	weir_at outer -b "127.0.0.1:$inner_port,send-proxy=v$v"
	"$TCPKIT" client "127.0.0.1:$outer_port" --connections 2 --bytes 1m --timeout 20 >/dev/null ||
		fail "v$v: bytes did not get through both weirs intact"
	wait_for both_logged || fail "v$v: the weirs did not log both clients"
	# The client the outer weir saw is the one the inner weir logs (not the outer weir).
	client=$(sed -n 's/.* closed client=\([^ ]*\) .*/\1/p' "$TMP/outer.log" | sort | head -n 1)
	grep -q " closed client=$client " "$TMP/inner.log" ||
		fail "v$v: the inner weir did not log the real client $client: $(grep closed "$TMP/inner.log")"
	stop_at outer
	stop_at inner
done

# Headers by hand, a byte at a time, then a round trip.
start_weir -b "127.0.0.1:$echo_port" --accept-proxy any --header-timeout 5s --stats 127.0.0.1:0
by_hand() { # HEADER(printf format) CLIENT
	exec 3<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
	# shellcheck disable=SC2059
	printf "$1" >"$TMP/header"
	for i in $(seq 0 $(($(wc -c <"$TMP/header") - 1))); do
		dd if="$TMP/header" bs=1 skip="$i" count=1 2>/dev/null >&3
		sleep 0.01
	done
	printf 'ping' >&3
	reply=$(timeout 5 dd bs=4 count=1 <&3 2>/dev/null) || true
	exec 3<&-
	[ "$reply" = ping ] || fail "no round trip after the header for $2"
	wait_for grep -q " closed client=$2 " "$TMP/weir.log" || fail "the header's client $2 was not logged"
}
by_hand 'PROXY TCP4 10.9.8.7 127.0.0.1 4242 80\r\n' 10.9.8.7:4242
by_hand 'PROXY TCP6 2001:db8::7 ::1 4343 80\r\n' '\[2001:db8::7\]:4343'
by_hand '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x05\x7f\x00\x00\x01\x11\x5c\x00\x50' \
	192.0.2.5:4444
# LOCAL (the proxy in front checking us): the connection's own address is kept.
by_hand '\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00' '127\.0\.0\.1:[0-9]*'

# No header, a malformed one, one that never comes: reset, counted, nothing relayed.
refused_with() { # SENDS: the client is reset (seen by its write or by its read)
	exec 3<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
	# shellcheck disable=SC2059
	(printf "$1" >&3) 2>"$TMP/err" || true
	status=0
	timeout 5 cat <&3 >"$TMP/got" 2>>"$TMP/err" || status=$?
	exec 3<&-
	[ "$status" -ne 124 ] || fail "a client that sent '$1' was left hanging"
	[ ! -s "$TMP/got" ] || fail "a client that sent '$1' got bytes back"
	grep -qi 'reset\|broken pipe' "$TMP/err" ||
		fail "a client that sent '$1' was not reset: $(cat "$TMP/err")"
}
refused_with 'GET / HTTP/1.0\r\n\r\n'
refused_with 'PROXY TCP4 10.0.0.1 10.0.0.2 80\r\n'
refused_with 'PROXY TCP4 300.0.0.1 10.0.0.2 80 443\r\n'
wait_for logged_at_least 3 "end=bad-header" || fail "bad headers were not logged as bad-header"
stop_weir
start_weir -b "127.0.0.1:$echo_port" --accept-proxy v1 --header-timeout 500ms
start=$(date +%s%N)
refused_with ''
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 400 ] && [ "$ms" -lt 3000 ] || fail "a silent client was dropped after $ms ms, not 500"
wait_for grep -q "end=header-timeout" "$TMP/weir.log" || fail "no header-timeout in the log"
stop_weir

# HAProxy on either side.
if command -v haproxy >/dev/null 2>&1; then
	weir_at inner -b "127.0.0.1:$echo_port" --accept-proxy v2
	hport=$(free_port)
	printf 'global\n\tnbthread 1\ndefaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 30s\n\ttimeout server 30s\nlisten l\n\tbind 127.0.0.1:%s\n\tserver s 127.0.0.1:%s send-proxy-v2\n' \
		"$hport" "$inner_port" >"$TMP/haproxy.cfg"
	haproxy -db -f "$TMP/haproxy.cfg" 2>>"$TMP/haproxy.log" &
	PIDS="$PIDS $!"
	haproxy_pid=$!
	wait_for "$TCPKIT" client "127.0.0.1:$hport" --bytes 1k --timeout 2 >/dev/null 2>&1 ||
		fail "HAProxy (send-proxy-v2) to weir did not relay"
	"$TCPKIT" client "127.0.0.1:$hport" --bytes 1m --timeout 20 >/dev/null ||
		fail "HAProxy's v2 headers were not taken"
	! grep -q "end=bad-header" "$TMP/inner.log" || fail "weir refused HAProxy's header"
	kill "$haproxy_pid"
	reap "$haproxy_pid" 50 "haproxy"
	stop_at inner
	hport=$(free_port)
	printf 'global\n\tnbthread 1\ndefaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 30s\n\ttimeout server 30s\nlisten l\n\tbind 127.0.0.1:%s accept-proxy\n\tserver s 127.0.0.1:%s\n' \
		"$hport" "$echo_port" >"$TMP/haproxy.cfg"
	haproxy -db -f "$TMP/haproxy.cfg" 2>>"$TMP/haproxy.log" &
	PIDS="$PIDS $!"
	haproxy_pid=$!
	wait_for listening_on "$hport" || fail "haproxy did not start"
	weir_at outer -b "127.0.0.1:$hport,send-proxy=v1"
	"$TCPKIT" client "127.0.0.1:$outer_port" --bytes 1m --timeout 20 >/dev/null ||
		fail "weir's v1 headers were not taken by HAProxy"
	stop_at outer
	kill "$haproxy_pid"
	reap "$haproxy_pid" 50 "haproxy"
else
	echo "no haproxy: interoperation not tried"
fi
echo "PROXY protocol ok"
