#!/bin/sh
# Names are never resolved on the event loop. A reload adds a server whose name takes 2 s to
# resolve (an LD_PRELOAD shim makes the resolver slow): meanwhile round trips through weir
# keep flowing, none pausing anywhere near the lookup's 2 s (at most 500 ms, for a busy
# machine), and the new server takes clients once resolved.
# A second SIGHUP during the lookup is not lost; a lookup that fails after its delay leaves
# weir as it was; a SIGTERM during a lookup stops weir at once.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
: "${SLOWDNS:?run through make check, or set SLOWDNS to tests/slowdns.so}"
[ -f "$SLOWDNS" ] || skip "no $SLOWDNS"
# ASan must come first among the preloaded libraries; the shim has no need to.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# How long the shim's lookups take: longer under a sanitizer, so that what a slower weir
# takes to stop is still told apart from waiting for the lookup.
SLOWDNS_MS=2000
[ "$WEIR_SANITIZED" = no ] || SLOWDNS_MS=4000
export SLOWDNS_MS

start_server echo echo
# hup: SIGHUP, and the reload it asks for has started (its reader thread runs).
hup() {
	n=$(grep -c "SIGHUP: reloading" "$TMP/weir.log" || true)
	kill -HUP "$WEIR_PID"
	wait_for logged_at_least $((n + 1)) "SIGHUP: reloading" || fail "a SIGHUP started no reload"
}
write_conf() { # SERVERS...
	printf '[frontend web]\nlisten = 127.0.0.1:%s\nbackend = app\n[backend app]\n' \
		"${WEIR_PORT:-0}" >"$TMP/weir.conf"
	for s in "$@"; do echo "server = $s" >>"$TMP/weir.conf"; done
}
write_conf "127.0.0.1:$SERVER_PORT"
LD_PRELOAD="$SLOWDNS" start_weir_conf "$TMP/weir.conf"

write_conf "127.0.0.1:$SERVER_PORT" "app.slow.test:$SERVER_PORT"
start=$(date +%s%N)
kill -HUP "$WEIR_PID"
worst=0 runs=0
while ! grep -q "reloaded:" "$TMP/weir.log"; do
	[ $((($(date +%s%N) - start) / 1000000)) -lt 10000 ] || fail "the reload never finished"
	out=$("$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode rr --requests 500 --timeout 20) ||
		fail "round trips failed during the lookup: $out"
	max=$(echo "$out" | sed -n 's/.*max \([0-9]*\) us.*/\1/p')
	[ "$max" -le "$worst" ] || worst=$max
	runs=$((runs + 1))
done
took=$((($(date +%s%N) - start) / 1000000))
echo "reload took $took ms; $runs runs of 500 round trips meanwhile, longest round trip $worst us"
[ "$took" -ge $((SLOWDNS_MS * 9 / 10)) ] || fail "the lookup took $took ms: the shim did not slow it"
[ "$runs" -ge 5 ] || fail "only $runs runs of round trips during the lookup"
[ "$worst" -lt 500000 ] || fail "a round trip paused $worst us while a name was resolved"
grep -q "reloaded: 1 frontend(s), 2 server(s)" "$TMP/weir.log" || fail "the slow server was not added"

# A second SIGHUP during the lookup: one more reload follows, reading the file as it is then.
write_conf "127.0.0.1:$SERVER_PORT" "one.slow.test:$SERVER_PORT"
hup
write_conf "127.0.0.1:$SERVER_PORT" "one.slow.test:$SERVER_PORT" "127.0.0.2:$SERVER_PORT"
kill -HUP "$WEIR_PID"
wait_for grep -q "a reload is under way; another follows it" "$TMP/weir.log" || fail "not coalesced"
i=0
until grep -q "reloaded: 1 frontend(s), 3 server(s)" "$TMP/weir.log"; do
	[ "$i" -lt 80 ] || fail "the SIGHUP that came during a lookup was lost"
	sleep 0.1
	i=$((i + 1))
done

# A lookup that fails, after its delay: the running configuration stays.
write_conf "127.0.0.1:$SERVER_PORT" "gone.fail.test:$SERVER_PORT"
kill -HUP "$WEIR_PID"
i=0
until grep -q "reload failed, keeping the running configuration: cannot resolve 'gone.fail.test" \
	"$TMP/weir.log"; do
	[ "$i" -lt 80 ] || fail "the failed lookup was not reported"
	sleep 0.1
	i=$((i + 1))
done
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 64k --timeout 10 >/dev/null ||
	fail "no client served after a failed lookup"

# SIGTERM while a lookup hangs: weir does not wait for the resolver.
write_conf "127.0.0.1:$SERVER_PORT" "again.slow.test:$SERVER_PORT"
hup
start=$(date +%s%N)
stop_weir
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt $((SLOWDNS_MS / 2)) ] || fail "weir took $ms ms to stop during a lookup"
echo "resolver ok"
