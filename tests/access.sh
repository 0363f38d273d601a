#!/bin/sh
# Access lists and limits. Clients from many addresses are played on loopback with PROXY v1
# headers (accept-proxy), whose address weir uses like a connection's own:
#  - allow/deny: the most specific prefix decides, IPv4 and IPv6; refused clients are reset
#    before anything is relayed, counted per frontend, and logged at most once a second;
#  - without a PROXY header, a denied loopback client is reset at accept;
#  - max-connections-per-source and rate-per-source refuse the busy address, not the others:
#    a flood from one address does not shut anyone else out;
#  - rate holds clients over the frontend's rate in the backlog: all are served, none refused.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
echo_port=$SERVER_PORT

# from ADDR [PORT]: a client presenting ADDR (IPv4 or IPv6) makes a round trip; false if refused.
from() {
	family=TCP4
	case $1 in *:*) family=TCP6 ;; esac
	dst=127.0.0.1
	[ "$family" = TCP6 ] && dst=::1
	exec 3<>"/dev/tcp/127.0.0.1/$WEIR_PORT" || return 1
	(printf 'PROXY %s %s %s %s 80\r\nping' "$family" "$1" "$dst" "${2:-40000}" >&3) 2>/dev/null ||
		{ exec 3<&-; return 1; }
	reply=$(timeout 5 dd bs=4 count=1 <&3 2>/dev/null) || true
	exec 3<&-
	[ "$reply" = ping ]
}

start_weir -b "127.0.0.1:$echo_port" --accept-proxy v1 --stats 127.0.0.1:0 \
	--allow 10.0.0.0/8 --deny 10.1.0.0/16 --allow 10.1.2.0/24 --allow 2001:db8::/32 \
	--deny 2001:db8:bad::/48
from 10.2.3.4 || fail "10.2.3.4 (allowed by 10.0.0.0/8) was refused"
from 10.1.2.3 || fail "10.1.2.3 (allowed by the more specific 10.1.2.0/24) was refused"
from 2001:db8::5 || fail "2001:db8::5 was refused"
! from 10.1.9.9 || fail "10.1.9.9 (denied by 10.1.0.0/16) was served"
! from 192.0.2.1 || fail "192.0.2.1 (in no allow) was served"
! from 2001:db8:bad::1 || fail "2001:db8:bad::1 (denied) was served"
! from 2001:db9::1 || fail "2001:db9::1 (in no allow) was served"
denied='weir_frontend_refused_total{frontend="default",reason="denied"}'
[ "$(metric "$denied")" = 4 ] || fail "4 clients were denied, the stats say $(metric "$denied")"
[ "$(grep -c "refused .*not allowed" "$TMP/weir.log")" -le 2 ] ||
	fail "every refused client got a log line: the log could be flooded"
stop_weir

# Without a PROXY header the connection's own address is judged, at accept.
start_weir -b "127.0.0.1:$echo_port" --deny 127.0.0.0/8
status=0
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1k --timeout 5 >"$TMP/c.out" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "a denied loopback client was served"
grep -qi 'reset' "$TMP/c.out" || fail "a denied client was not reset: $(cat "$TMP/c.out")"
stop_weir

# Open connections per source: the fourth from one address is refused, another address is not.
start_weir -b "127.0.0.1:$echo_port" --accept-proxy v1 --max-connections-per-source 3 \
	--stats 127.0.0.1:0
for fd in 5 6 7; do
	eval "exec $fd<>/dev/tcp/127.0.0.1/$WEIR_PORT"
	printf 'PROXY TCP4 10.0.0.1 127.0.0.1 %s 80\r\nx' "$((40000 + fd))" >&"$fd"
	[ "$(timeout 5 dd bs=1 count=1 <&"$fd" 2>/dev/null)" = x ] || fail "held client $fd was not served"
done
! from 10.0.0.1 || fail "a fourth connection from 10.0.0.1 was served"
from 10.0.0.2 || fail "another address was refused while 10.0.0.1 was at its limit"
exec 5<&- 6<&- 7<&-
wait_for from 10.0.0.1 || fail "10.0.0.1 was still refused once its connections closed"
stop_weir

# New connections per second per source: a flood from one address is cut down to the rate,
# and clients from other addresses are served all the while. The flood (30 clients from
# 10.0.0.9, each followed by one from an address of its own) is played with shell builtins
# alone, no process started per client, so that it takes milliseconds even on a busy
# machine; the bound is then taken from the time it actually took.
start_weir -b "127.0.0.1:$echo_port" --accept-proxy v1 --rate-per-source 5 --stats 127.0.0.1:0
trap '' PIPE # a refused client's write may meet its reset: a failed printf, not a dead shell
t0=$(now_ms)
for i in $(seq 30); do
	a=$((i + 9)) b=$((i + 39)) # descriptors 10 to 39 from 10.0.0.9, 40 to 69 from others
	eval "exec $a<>/dev/tcp/127.0.0.1/$WEIR_PORT $b<>/dev/tcp/127.0.0.1/$WEIR_PORT"
	{ printf 'PROXY TCP4 10.0.0.9 127.0.0.1 %s 80\r\nping' "$((41000 + i))" >&"$a"; } 2>/dev/null || true
	{ printf 'PROXY TCP4 10.0.1.%s 127.0.0.1 40000 80\r\nping' "$i" >&"$b"; } 2>/dev/null || true
done
served=0 others=0
for i in $(seq 30); do
	a=$((i + 9)) b=$((i + 39)) reply="" other=""
	read -r -t 5 -N 4 -u "$a" reply 2>/dev/null || true
	read -r -t 5 -N 4 -u "$b" other 2>/dev/null || true
	eval "exec $a<&- $b<&-"
	[ "$reply" = ping ] && served=$((served + 1))
	[ "$other" = ping ] && others=$((others + 1))
done
took=$(($(now_ms) - t0))
trap - PIPE
# A second's worth at once, then 5 a second for as long as the flood took, and one for
# rounding.
most=$((5 + took * 5 / 1000 + 1))
echo "rate-per-source 5: $served of 30 from one address served in $took ms (at most $most); $others of 30 from others"
[ "$most" -lt 30 ] || echo "note: the flood took too long for the rate to show"
[ "$served" -ge 5 ] && [ "$served" -le "$most" ] ||
	fail "$served of 30 from one address were served in $took ms (at most $most)"
[ "$others" -eq 30 ] || fail "only $others of 30 clients from other addresses were served"
limited='weir_frontend_refused_total{frontend="default",reason="source-limit"}'
[ "$(metric "$limited")" -eq $((30 - served)) ] || fail "the refusals were not counted: $(metric "$limited")"
stop_weir

# The frontend's rate: 30 clients at once, 10 a second, none refused.
start_weir -b "127.0.0.1:$echo_port" --rate 10
start=$(date +%s%N)
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --connections 30 --bytes 1k --timeout 20 >"$TMP/burst.out" 2>&1 ||
	fail "clients over the rate were refused: $(cat "$TMP/burst.out")"
ms=$((($(date +%s%N) - start) / 1000000))
echo "30 clients at rate 10/s took $ms ms"
[ "$ms" -ge 1500 ] || fail "30 clients went through in $ms ms: the rate of 10/s was not kept"
stop_weir
echo "access lists and limits ok"
