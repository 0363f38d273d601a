#!/bin/sh
# The socket options and small knobs operators expect, each seen from outside:
#  keepalive on both sockets (ss shows the keepalive timer), rcvbuf and sndbuf on both (ss
#  shows the sizes; a reload keeps them; a size above the kernel's cap is warned of),
#  defer-accept (a silent client is not accepted, one that speaks is), source (the server connection comes from the address
#  given, per backend and per server, and so do health checks; from the ports of a range in
#  turn), backlog (ss shows it), retries (how many other servers a client tries),
#  queue-timeout, event-backend (libev has no epoll descriptor with poll or select),
#  pid-file (written, removed, or exit 73).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
echo_port=$SERVER_PORT

# Keepalive: the client's socket and the server's both carry the keepalive timer.
start_weir -b "127.0.0.1:$echo_port" --keepalive 30s,5s,4
hold_client ka
ss -Htno state established "( sport = :$WEIR_PORT )" | grep -q "keepalive" ||
	fail "the client's socket has no keepalive timer: $(ss -Htno "( sport = :$WEIR_PORT )")"
ss -Htno state established "( dport = :$echo_port )" | grep -q "keepalive" ||
	fail "the server's socket has no keepalive timer"
release "$HELD" "the keepalive client"
stop_weir

# Buffer sizes: the client's socket (from the listener) and the server's carry them; the
# kernel doubles what it is given. Sizes the kernel would not choose by itself.
# skmem PORT_FILTER: the receive and send buffer sizes of the established sockets matching.
skmem() {
	ss -Htnm state established "( $1 )" | sed -n 's/.*skmem:(r[0-9]*,rb\([0-9]*\),t[0-9]*,tb\([0-9]*\),.*/\1 \2/p' |
		sort -u | tr '\n' ' '
}
printf '[global]\nrcvbuf = 48k\nsndbuf = 40k\n[frontend f]\nlisten = 127.0.0.1:0\nbackend = b\n' \
	>"$TMP/buf.conf"
printf '[backend b]\nserver = 127.0.0.1:%s\n' "$echo_port" >>"$TMP/buf.conf"
start_weir_conf "$TMP/buf.conf"
hold_client buf
[ "$(skmem "sport = :$WEIR_PORT")" = "98304 81920 " ] ||
	fail "the client's socket has buffers $(skmem "sport = :$WEIR_PORT"), not 98304 81920"
[ "$(skmem "dport = :$echo_port")" = "98304 81920 " ] ||
	fail "the server's socket has buffers $(skmem "dport = :$echo_port"), not 98304 81920"
release "$HELD" "the buffer client"
# A reload cannot change them (the listener would keep the old ones): it says so.
sed -i "s/^rcvbuf = .*/rcvbuf = 96k/; s/^listen = .*/listen = 127.0.0.1:$WEIR_PORT/" "$TMP/buf.conf"
kill -HUP "$WEIR_PID"
wait_for logged_at_least 1 "reloaded:" || fail "the reload did not apply"
grep -q "reload: rcvbuf changes only on restart (still 48k)" "$TMP/weir.log" ||
	fail "a reload changing rcvbuf was not warned of"
hold_client buf2
[ "$(skmem "dport = :$echo_port")" = "98304 81920 " ] ||
	fail "after the reload the server's socket has buffers $(skmem "dport = :$echo_port")"
release "$HELD" "the buffer client after the reload"
stop_weir
# Above the kernel's cap (where the cap is below weir's own 1g): weir runs, and says what
# each socket really gets.
above=$(($(cat /proc/sys/net/core/wmem_max) + 1024))
if [ "$above" -le $((1 << 30)) ]; then
	start_weir -b "127.0.0.1:$echo_port" --sndbuf "$above"
	grep -q "warning: sndbuf .* is above net.core.wmem_max (.*): each socket gets at most that" \
		"$TMP/weir.log" || fail "a send buffer above wmem_max was not warned of"
	served "with a send buffer above the kernel's cap"
	stop_weir
fi

# Source: connections to the server come from 127.0.0.2 (backend), 127.0.0.3 (server line).
start_weir -b "127.0.0.1:$echo_port" --source 127.0.0.2
hold_client src
ss -Htn state established "( dport = :$echo_port )" | grep -q "127.0.0.2:" ||
	fail "the server connection is not from 127.0.0.2: $(ss -Htn "( dport = :$echo_port )")"
release "$HELD" "the source client"
stop_weir
start_weir -b "127.0.0.1:$echo_port,source=127.0.0.3" --source 127.0.0.2
hold_client src2
ss -Htn state established "( dport = :$echo_port )" | grep -q "127.0.0.3:" ||
	fail "the server's own source did not win over the backend's"
release "$HELD" "the source client"
stop_weir

# Health checks come from the source address too: a server that lets only it in must not
# fail them.
start_server checked echo
checked=$SERVER_PORT
start_weir -b "127.0.0.1:$checked" --source 127.0.0.3 --health-check tcp --health-interval 100ms
wait_for eval 'ss -Htan "( dport = :$checked )" | grep -q "127\.0\.0\.3:"' ||
	fail "no health check came from the source address: $(ss -Htan "( dport = :$checked )")"
ss -Htan "( dport = :$checked )" | grep -v "127\.0\.0\.3:" | grep -q . &&
	fail "a health check came from another address: $(ss -Htan "( dport = :$checked )")"
stop_weir

# A source port range: weir connects from the ports of the range in turn (one count for both
# workers), skips a port something listens on, resets a client for whom no port is free and
# says why, and uses the ports again once their TIME_WAITs may be reused.
while :; do
	p0=$(free_port)
	[ $((p0 + 2)) -lt "$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)" ] &&
		! ss -Htan "( sport = :$((p0 + 1)) or sport = :$((p0 + 2)) )" | grep -q . && break
done
start_server_on $((p0 + 1)) blocker echo
blocker=$SERVER_PID
start_weir -w 2 -b "127.0.0.1:$echo_port,source=127.0.0.1:$p0-$((p0 + 2))"
hold_client range 2
from=$(ss -Htn state established "( dport = :$echo_port )" | awk '{ print $3 }' | sort | tr '\n' ' ')
[ "$from" = "127.0.0.1:$p0 127.0.0.1:$((p0 + 2)) " ] ||
	fail "the server connections are not from ports $p0 and $((p0 + 2)): $from"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1 --timeout 5 >/dev/null 2>&1 &&
	fail "a client was served with every port of the range taken"
grep -q "warning: cannot connect to default/127.0.0.1:$echo_port: no port of its source range $p0-$((p0 + 2)) can reach it now (weir's own shortage)" \
	"$TMP/weir.log" || fail "no warning says the range is full: $(cat "$TMP/weir.log")"
wait_for logged_at_least 1 "end=local-error" || fail "the reset client was not logged local-error"
release "$HELD" "the clients holding the range"
# Their TIME_WAITs on loopback may be reused after a second (net.ipv4.tcp_tw_reuse).
if [ "$(cat /proc/sys/net/ipv4/tcp_tw_reuse)" != 0 ]; then
	i=0
	until "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 5 >/dev/null 2>&1; do
		[ "$i" -lt 50 ] || fail "the freed ports of the range were not used again"
		sleep 0.1
		i=$((i + 1))
	done
fi
stop_weir
kill "$blocker"
reap "$blocker" 50 "the server blocking a port of the range"
# A server whose range is taken is skipped as after a failed connect, with nothing counted
# against it: with one port for the first server, the third client goes to the second.
start_server ranged echo
ranged=$SERVER_PORT
start_weir -b "127.0.0.1:$ranged,source=127.0.0.1:$p0" -b "127.0.0.1:$echo_port"
hold_client skip 3
[ "$(ss -Htn state established "( dport = :$echo_port )" | wc -l)" = 2 ] ||
	fail "the client whose server had no port left did not go to the other server"
grep -q "no port of its source range $p0-$p0 can reach it now" "$TMP/weir.log" ||
	fail "no warning says the first server's range is taken"
grep -q "connect to default/127.0.0.1:$ranged failed" "$TMP/weir.log" &&
	fail "a taken range counted against its server"
release "$HELD" "the clients of the two servers"
stop_weir

# A range on an address that is not the machine's is no full range: the client is reset
# and the warning says what is wrong, once, with no port tried after the first. Its checks
# say so too, and the server is not taken for DOWN.
start_weir -b "127.0.0.1:$echo_port,source=192.0.2.1:$p0-$((p0 + 2))" --health-check tcp \
	--health-interval 100ms
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1 --timeout 5 >/dev/null 2>&1 &&
	fail "a client was served from an address that is not the machine's"
wait_for logged_at_least 1 "source range\|Cannot assign requested address" ||
	fail "nothing was logged of the source address that is not the machine's"
grep -q "cannot connect to default/127.0.0.1:$echo_port: Cannot assign requested address (weir's own shortage; the client is reset)" \
	"$TMP/weir.log" && ! grep -q "source range" "$TMP/weir.log" ||
	fail "an address that is not the machine's was reported as $(grep warning "$TMP/weir.log")"
wait_for logged_at_least 1 "cannot check default/127.0.0.1:$echo_port from its source address: cannot assign requested address" ||
	fail "no warning says the checks cannot bind the source: $(grep warning "$TMP/weir.log")"
sleep 0.5
grep -q " is DOWN" "$TMP/weir.log" && fail "checks that could not bind the source took the server down"
stop_weir

# A port weir may not bind once it gave up root (--user): weir's own fault, not the
# server's. The client is reset, and no failed connect counts against the server.
low=$(($(cat /proc/sys/net/ipv4/ip_unprivileged_port_start) - 1))
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && [ "$low" -ge 1 ]; then
	start_weir -b "127.0.0.1:$echo_port,source=127.0.0.1:$low" --user nobody
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1 --timeout 5 >/dev/null 2>&1 &&
		fail "a client was served from a port weir may not bind"
	wait_for logged_at_least 1 "Permission denied (weir's own fault; the client is reset)" ||
		fail "no warning says weir may not bind its source: $(grep warning "$TMP/weir.log")"
	wait_for closed_at_least 1 || fail "the reset client was not logged"
	grep -q "connect to default/127.0.0.1:$echo_port failed" "$TMP/weir.log" &&
		fail "a source weir may not bind counted against the server"
	closed_lines | grep -q "end=local-error" || fail "the client was closed as $(closed_lines)"
	stop_weir
fi

# Defer-accept: a client that says nothing is not handed to weir (it waits in the kernel); one
# that speaks is served at once.
start_weir -b "127.0.0.1:$echo_port" --defer-accept 3s --stats 127.0.0.1:0
exec 3<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
sleep 1
accepted=$(metric 'weir_frontend_connections_total{frontend="default"}')
[ "$accepted" = 0 ] || fail "a silent client was accepted despite defer-accept ($accepted)"
printf 'x' >&3
reply=$(timeout 5 dd bs=1 count=1 <&3 2>/dev/null) || true
exec 3<&-
[ "$reply" = x ] || fail "the client that spoke after waiting was not served"
served "with defer-accept"
stop_weir

# Backlog: every worker's socket has it.
start_weir -b "127.0.0.1:$echo_port" --backlog 7 -w 2
[ "$(ss -Hltn "sport = :$WEIR_PORT" | awk '{ print $3 }' | sort | uniq -c | awk '{ print $1 "x" $2 }')" = 2x7 ] ||
	fail "the backlog is not 7 on both workers' sockets: $(ss -Hltn "sport = :$WEIR_PORT")"
stop_weir

# Retries: with none, a client whose first server refuses is closed; with one, it is served.
start_server gone echo
dead=$SERVER_PORT
kill "$SERVER_PID"
reap "$SERVER_PID" 50 "the placeholder server"
start_weir -b "127.0.0.1:$dead" -b "127.0.0.1:$echo_port" --retries 0 --fall 100
! "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 5 >/dev/null 2>&1 ||
	fail "with retries 0, a client whose server refused was served elsewhere"
wait_for grep -q "end=connect-failed .*attempts=1" "$TMP/weir.log" || fail "retries 0 tried more"
stop_weir
start_weir -b "127.0.0.1:$dead" -b "127.0.0.1:$echo_port" --retries 1 --fall 100
served "with retries 1"
wait_for grep -q "attempts=2" "$TMP/weir.log" || fail "retries 1 did not try the second server"
stop_weir

# Queue timeout: a client waiting for a full server gives up after it, not the connect timeout.
start_weir -b "127.0.0.1:$echo_port,maxconn=1" --queue-timeout 500ms --connect-timeout 10s
hold_client full
start=$(date +%s%N)
! "$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 10 >/dev/null 2>&1 ||
	fail "a client got past a full server"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 400 ] && [ "$ms" -lt 3000 ] || fail "the waiting client was closed after $ms ms, not 500"
wait_for grep -q "end=queue-timeout" "$TMP/weir.log" || fail "no queue-timeout"
release "$HELD" "the holder"
stop_weir

# Event backend: poll and select work, and use no epoll descriptor.
for backend in poll select; do
	# Connections' sockets are in the worker's own epoll set, whatever libev uses: one
	# epoll descriptor with poll or select, libev's too with epoll.
	start_weir -b "127.0.0.1:$echo_port" --event-backend "$backend" -w 1
	served "with event-backend $backend"
	[ "$(ls -l "/proc/$WEIR_PID/fd" | grep -c eventpoll)" -eq 1 ] ||
		fail "event-backend $backend still has libev use epoll"
	stop_weir
done
"$WEIR" -V | grep -q "(backend epoll)" || fail "-V does not name the backend in use"

# Pid file: written once listening, removed on exit; one that cannot be written is exit 73.
start_weir -b "127.0.0.1:$echo_port" --pid-file "$TMP/weir.pid"
wait_for test -s "$TMP/weir.pid" || fail "no pid file"
[ "$(cat "$TMP/weir.pid")" = "$WEIR_PID" ] || fail "the pid file says $(cat "$TMP/weir.pid"), not $WEIR_PID"
stop_weir
[ ! -e "$TMP/weir.pid" ] || fail "the pid file was left behind"
status=0
"$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$echo_port" --pid-file "$TMP/no/such/dir/weir.pid" \
	2>"$TMP/err" || status=$?
[ "$status" -eq 73 ] || fail "an unwritable pid file gave exit $status: $(cat "$TMP/err")"
grep -q "pid-file: cannot write" "$TMP/err" || fail "no message for the pid file: $(cat "$TMP/err")"
# Run as a --user that may not remove it, the pid file is left with a warning, not silently.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	mkdir "$TMP/run"
	start_weir -b "127.0.0.1:$echo_port" --pid-file "$TMP/run/weir.pid" --user nobody
	stop_weir
	grep -q "warning: cannot remove the pid file $TMP/run/weir.pid: Permission denied" \
		"$TMP/weir.log" || fail "a pid file left behind was not logged: $(tail -n 3 "$TMP/weir.log")"
fi
echo "socket options ok"
