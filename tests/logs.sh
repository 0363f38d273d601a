#!/bin/sh
# --log-format json writes one JSON object per line with the connection's fields; under
# journald (JOURNAL_STREAM names stderr) lines carry <N> priorities and no timestamp.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

start_server echo echo
start_weir -b "127.0.0.1:$SERVER_PORT" --log-format json
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --bytes 1m --timeout 30 >/dev/null || fail "no relay"
wait_for grep -q '"event":"closed"' "$TMP/weir.log" || fail "no JSON closed event"
stop_weir
bad=$(grep -v '^{"time":"[0-9T:.-]*Z","level":"[a-z]*",.*}$' "$TMP/weir.log" || true)
[ -z "$bad" ] || fail "lines that are not JSON objects: $bad"
grep -q '"event":"closed",.*"backend":"default","server":"127.0.0.1:[0-9]*","server_name":"127.0.0.1:[0-9]*","end":"client-closed",.*"to_server":1048576,"to_client":1048576,' \
	"$TMP/weir.log" || fail "the closed event lacks its fields: $(grep closed "$TMP/weir.log")"
grep -q '"level":"info","msg":"listening on 127.0.0.1:' "$TMP/weir.log" ||
	fail "plain messages are not in a msg field"

# journald: stderr is the stream named by JOURNAL_STREAM.
: >"$TMP/journal.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/journal.log")
export JOURNAL_STREAM
"$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$SERVER_PORT" --connect-timeout 0 2>>"$TMP/journal.log" &&
	fail "a bad flag was accepted"
"$WEIR" -l 127.0.0.1:0 -b "127.0.0.1:$SERVER_PORT" 2>>"$TMP/journal.log" &
WEIR_PID=$!
PIDS="$PIDS $WEIR_PID"
wait_for grep -q "^<6>listening on 127.0.0.1:" "$TMP/journal.log" ||
	fail "no <6> prefix under journald: $(cat "$TMP/journal.log")"
stop_weir
unset JOURNAL_STREAM
grep -q "^<6>" "$TMP/journal.log" && ! grep -q "^<6>20[0-9][0-9]-" "$TMP/journal.log" ||
	fail "journald lines carry a timestamp"
echo "logs ok"
