#!/bin/sh
# What a closed line says about pauses is what happened. A server that stops reading makes
# weir stop reading its client (client_paused above 0), whether bytes are copied or spliced;
# short connections that never wait log 0 both ways, however many close at once.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server sink sink
sink_pid=$SERVER_PID
sink_port=$SERVER_PORT

# The bytes the server has received and not read (its socket's Recv-Q).
unread() {
	ss -Htn state established "( sport = :$sink_port )" | awk '{ n += $1 } END { print n + 0 }'
}

# stalled: the server's receive window is full, so weir cannot send more (two looks alike).
stalled() {
	a=$(unread)
	sleep 0.2
	[ "$a" -gt 0 ] && [ "$(unread)" -eq "$a" ]
}

for splice in off auto; do
	start_weir -b "127.0.0.1:$sink_port" --splice "$splice"
	kill -STOP "$sink_pid"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode bulk --bytes 32m --timeout 60 \
		>"$TMP/bulk.out" 2>&1 &
	client=$!
	PIDS="$PIDS $client"
	ok=yes
	wait_for stalled || ok=no
	sleep 1 # a slow build has had time to fill what is left too
	kill -CONT "$sink_pid"
	[ "$ok" = yes ] || fail "the stopped server's receive queue never filled (splice $splice)"
	reap "$client" 600 "the bulk client (splice $splice)"
	[ "$REAPED" -eq 0 ] || fail "bulk through weir failed (splice $splice): $(cat "$TMP/bulk.out")"
	wait_for closed_at_least 1 || fail "no closed line (splice $splice)"
	line=$(closed_lines)
	echo "$line" | grep -q " to_server=33554432 " ||
		fail "not every byte reached the server (splice $splice): $line"
	paused=$(echo "$line" | sed -n 's/.* client_paused=\([0-9]*\) .*/\1/p')
	[ "${paused:-0}" -gt 0 ] ||
		fail "a server that stopped reading never paused the client (splice $splice): $line"
	# Far fewer than one pause per buffer: 32 MiB is 512 buffers of 64 KiB.
	[ "$paused" -lt 512 ] || fail "implausible client_paused (splice $splice): $line"
	echo "splice $splice: client paused $paused times while the server was stopped"
	stop_weir
done

# Many short connections at once: several close in one turn of the loop.
start_server echo echo
start_weir -b "127.0.0.1:$SERVER_PORT"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode connect --connections 32 --duration 0.5 \
	--timeout 60 >"$TMP/connect.out" 2>&1 || fail "short connections failed: $(cat "$TMP/connect.out")"
n=$(awk '{ print $2 }' "$TMP/connect.out")
wait_for closed_at_least "$n" || fail "$n connections, $(closed_lines | wc -l) closed lines"
bad=$(closed_lines | grep -v ' client_paused=0 server_paused=0 ' || true)
[ -z "$bad" ] || fail "$(echo "$bad" | wc -l) of $n one-byte connections logged pauses," \
	"e.g. $(echo "$bad" | head -n 1)"
echo "$n short connections: none logged a pause"
stop_weir
echo "paused ok"
