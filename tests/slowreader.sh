#!/bin/sh
# A slow reader: the server sends 200 MB as fast as it can, the client reads at 50 MB/s.
# weir must stop reading the server while the client lags (backpressure), so its memory stays
# near the buffer size instead of growing with the data, and every byte still arrives.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

total=200m
total_bytes=209715200
rate=50m
# Under a sanitizer weir itself may relay slower than 50 MB/s (31 MB/s was seen under
# TSan), and a reader that keeps up causes no backpressure: read slower there.
if [ "$WEIR_SANITIZED" = yes ]; then
	total=50m
	total_bytes=52428800
	rate=10m
fi

start_server source send --bytes "$total"
start_weir -b "127.0.0.1:$SERVER_PORT"
base=$(rss_kb "$WEIR_PID")
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode slow-read --rate "$rate" --expect "$total" \
	--timeout 120 >"$TMP/client.out" 2>&1 &
client=$!
PIDS="$PIDS $client"
peak=$base
i=0
while kill -0 "$client" 2>/dev/null && [ "$i" -lt 1200 ]; do
	now=$(rss_kb "$WEIR_PID")
	[ "$now" -le "$peak" ] || peak=$now
	sleep 0.1
	i=$((i + 1))
done
reap "$client" 10 "the slow reader"
[ "$REAPED" -eq 0 ] || fail "slow reader failed: $(cat "$TMP/client.out")"

wait_for closed_at_least 1 || fail "no closed line"
line=$(closed_lines)
echo "$line" | grep -q "to_client=$total_bytes " || fail "not every byte reached the client: $line"
paused=$(echo "$line" | sed -n 's/.*server_paused=\([0-9]*\).*/\1/p')
[ "${paused:-0}" -gt 0 ] || fail "backpressure never paused reading the server: $line"
growth=$((peak - base))
echo "rss: base ${base} KiB, peak ${peak} KiB, growth ${growth} KiB; server reads paused $paused times"
if [ "$WEIR_SANITIZED" = yes ]; then
	echo "(sanitizer build: its allocator's quarantine makes RSS meaningless; bound not checked)"
else
	# 64 KiB buffers: a few MiB of slack for the allocator and libev, far below 200 MB.
	[ "$growth" -lt 4096 ] || fail "weir grew by $growth KiB while relaying $total to a slow reader"
fi
stop_weir
echo "slow reader ok"
