#!/bin/sh
# --splice on and auto: bytes pass through pipes inside the kernel, and users see nothing
# different:
#  - bytes identical both ways, and a half-close passed on after the last byte;
#  - a slow reader holds weir's memory where it was (the pipe is the kernel's, bounded);
#  - a direction holds a pipe only while bytes move: once transfers end, the pipes weir
#    keeps open are the few idle ones it may keep, not one per connection;
#  - with more bulk directions than pipes (a low descriptor limit allows few), the rest read
#    and write as usual, every byte intact.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
echo_port=$SERVER_PORT
start_server sinksend sink-send --bytes 3m --seed 7
sinksend_port=$SERVER_PORT
start_server send send --bytes 64m
send_port=$SERVER_PORT

pipes() { # open pipe descriptors of weir
	ls -l "/proc/$WEIR_PID/fd" | grep -c "pipe:" || true
}

for mode in on auto; do
	start_weir -b "127.0.0.1:$echo_port" -w 1 --splice "$mode" --stats 127.0.0.1:0
	idle_pipes=$(pipes)
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --connections 8 --bytes 8m --timeout 60 \
		>"$TMP/echo.out" || fail "splice $mode: echo failed: $(cat "$TMP/echo.out")"
	# Pipes went back: at most the 16 idle ones a worker keeps (two descriptors each).
	wait_for closed_at_least 8 || fail "splice $mode: the echo clients did not all close"
	after=$(pipes)
	echo "splice $mode: $(cat "$TMP/echo.out"); pipe descriptors before $idle_pipes, after $after"
	[ "$after" -le $((idle_pipes + 32)) ] || fail "splice $mode: $after pipe descriptors left open"
	stop_weir

	# Half-close: the client's end reaches the server after its last byte; the reply flows.
	start_weir -b "127.0.0.1:$sinksend_port" -w 1 --splice "$mode"
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode half-close --bytes 5m --expect 3m --seed 7 \
		--timeout 30 >"$TMP/hc.out" || fail "splice $mode: half-close failed: $(cat "$TMP/hc.out")"
	stop_weir

	# A slow reader of a fast sender: weir's memory stays where it was.
	start_weir -b "127.0.0.1:$send_port" -w 1 --splice "$mode"
	before=$(rss_kb "$WEIR_PID")
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate 4m --expect 64m \
		--timeout 60 >/dev/null 2>&1 &
	reader=$!
	PIDS="$PIDS $reader"
	sleep 2
	during=$(rss_kb "$WEIR_PID")
	kill "$reader"
	reap "$reader" 50 "the slow reader"
	echo "splice $mode: slow reader: weir RSS $before KiB before, $during KiB during"
	[ $((during - before)) -lt 1024 ] ||
		fail "splice $mode: a slow reader grew weir from $before to $during KiB"
	stop_weir
done

# Few pipes (a descriptor limit of 256 leaves 16 for them): 40 slow readers of a fast
# sender at once, each direction blocked on its reader and holding a pipe if it got one;
# the rest read and write as usual. Every byte intact, and weir's log says which paused.
start_server send2 send --bytes 8m
ulimit -n 256
start_weir -b "127.0.0.1:$SERVER_PORT" -w 1 --splice on
readers=""
for i in $(seq 40); do
	"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate 2m --expect 8m \
		--rcvbuf 32k --timeout 60 >/dev/null 2>"$TMP/reader$i.err" &
	readers="$readers $!"
	PIDS="$PIDS $!"
done
# Once the socket buffers between weir and each reader are full (the readers keep theirs
# small), its direction blocks: look at the pipes then.
most=0
for i in $(seq 40); do
	n=$(pipes)
	[ "$n" -gt "$most" ] && most=$n
	sleep 0.1
done
for p in $readers; do
	reap "$p" 300 "a slow reader"
	[ "$REAPED" -eq 0 ] || fail "with pipes scarce, a reader failed: $(cat "$TMP"/reader*.err)"
done
paused=$(closed_lines | grep -vc "server_paused=0" || true)
echo "pipes scarce: 40 slow readers intact ($paused paused); at most $most pipe descriptors seen"
# (Under a sanitizer weir may be too slow for its readers ever to fall behind.)
[ "$most" -ge 20 ] || [ "$WEIR_SANITIZED" = yes ] ||
	fail "only $most pipe descriptors: the pipes were not used"
[ "$most" -le 34 ] || fail "$most pipe descriptors: more than the 16 pipes allowed"
stop_weir
