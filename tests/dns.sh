#!/bin/sh
# Servers from DNS, with dnsmasq on loopback as the name server whose answers change:
#  - `resolve`: a name's addresses are the servers; one added to the answer takes clients,
#    one removed takes no new clients while a connection it has finishes untouched;
#  - a dead name server changes nothing (logged once), and answers coming back are used;
#  - a name server that never answers does not hold up relaying;
#  - `resolve=srv`: SRV records give hosts and ports, and a changed record moves the server;
#    a target whose address lookup fails (its name server is mute) keeps the last answer;
#  - a change whose rebuild fails (another name fails for a moment) is made at a later round;
#  - a resolve-interval shortened by a reload counts from the reload;
#  - with an IPv4 source (the server's or the backend's), a name's IPv6 addresses are left out;
#  - with -w 2 and -w 1.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
command -v dnsmasq >/dev/null || fail "dnsmasq is needed (scripts/deps.sh installs it)"

dport=$(free_port)
P=$(free_port)
Q=$(free_port)
# Echo servers on three loopback addresses, the same port: a name's A records pick them.
for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do
	"$TCPKIT" server "$ip:$P" --port-file "$TMP/$ip.port" --mode echo 2>>"$TMP/servers.log" &
	PIDS="$PIDS $!"
done
"$TCPKIT" server "127.0.0.4:$Q" --port-file "$TMP/q.port" --mode echo 2>>"$TMP/servers.log" &
PIDS="$PIDS $!"
for f in 127.0.0.2 127.0.0.3 127.0.0.4 q; do
	wait_for test -s "$TMP/$f.port" || fail "echo server $f did not start"
done

# dns_start SRV_PORT [ARGS...]: dnsmasq answering from $TMP/hosts, and SRV _app._tcp.test ->
# app.test; ARGS for dnsmasq besides.
dns_start() {
	srv_port=$1
	shift
	: >"$TMP/dnsmasq.log" # a new one: "read" below must be its own
	dnsmasq -k --port="$dport" --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
		--no-hosts --addn-hosts="$TMP/hosts" --srv-host="_app._tcp.test,app.test,$srv_port" \
		--user=root --cache-size=0 --pid-file="$TMP/dnsmasq.pid" \
		--log-facility="$TMP/dnsmasq.log" "$@" &
	DNS_PID=$!
	PIDS="$PIDS $DNS_PID"
	wait_for grep -qs "read $TMP/hosts" "$TMP/dnsmasq.log" || fail "dnsmasq did not start"
}
dns_stop() {
	kill "$DNS_PID"
	reap "$DNS_PID" 50 "dnsmasq"
	DNS_PID=""
}
reads() { grep -c "read $TMP/hosts" "$TMP/dnsmasq.log" 2>/dev/null || true; }
reads_above() { [ "$(reads)" -gt "$1" ]; }
hosts() { # IP...: app.test has these addresses from now on (dnsmasq has read them)
	: >"$TMP/hosts"
	for ip in "$@"; do echo "$ip app.test" >>"$TMP/hosts"; done
	[ -n "${DNS_PID:-}" ] || return 0
	n=$(reads)
	kill -HUP "$DNS_PID"
	wait_for reads_above "$n" || fail "dnsmasq did not read the new addresses"
}
servers() { # the servers weir has now, "ip:port" sorted (not those removed)
	ctl show servers | awk 'NR > 1 && $3 != "removed" { print $2 }' | sort | tr '\n' ' '
}
removed() { # the removed servers whose connections still run, "ip:port" sorted
	ctl show servers | awk '$3 == "removed" { print $2 }' | sort | tr '\n' ' '
}
has_servers() { # WANT: for wait_for
	[ "$(servers)" = "$1" ]
}
sighup() { # CONF N LINE WHAT: weir rereads CONF; its log must come to have N such LINEs
	cp "$1" "$TMP/weir.conf"
	kill -HUP "$WEIR_PID"
	wait_for logged_at_least "$2" "$3" || fail "$4"
}

hosts 127.0.0.2
dns_start "$P"

for workers in 2 1; do
	rm -f "$TMP/admin.sock"
	start_weir -b "app.test:$P,resolve" --resolvers "127.0.0.1:$dport" \
		--resolve-interval 300ms -w "$workers" --admin "unix:$TMP/admin.sock"
	[ "$(servers)" = "127.0.0.2:$P " ] || fail "-w $workers: at start, servers $(servers)"
	served "-w $workers: from the first answer"

	# An address more: it takes clients.
	hosts 127.0.0.2 127.0.0.3
	wait_for has_servers "127.0.0.2:$P 127.0.0.3:$P " ||
		fail "-w $workers: the added address did not become a server: $(servers)"
	for i in $(seq 6); do served "-w $workers: with two servers"; done
	wait_for closed_at_least 7 || fail "-w $workers: clients not logged"
	closed_lines | grep -q "server=127.0.0.3:$P " || fail "-w $workers: no client reached .3"

	# One address less: its held connections carry on, new clients go to the other.
	hold_client held 4
	ss -Htn state established "( dst 127.0.0.2 and dport = :$P )" | grep -q . ||
		fail "-w $workers: no held connection on .2"
	hosts 127.0.0.3
	wait_for has_servers "127.0.0.3:$P " ||
		fail "-w $workers: the removed address is still a server: $(servers)"
	ss -Htn state established "( dst 127.0.0.2 and dport = :$P )" | grep -q . ||
		fail "-w $workers: the held connections to the removed server were cut"
	[ "$(removed)" = "127.0.0.2:$P " ] || fail "-w $workers: removed, listed: $(removed)"
	before=$(closed_lines | wc -l)
	for i in 1 2 3; do served "-w $workers: after the removal"; done
	wait_for closed_at_least $((before + 3)) || fail "-w $workers: clients not logged"
	closed_lines | tail -n 3 | grep -q "server=127.0.0.2:" &&
		fail "-w $workers: a new client went to the removed server"
	release "$HELD" "the held clients"
	wait_for closed_at_least $((before + 7)) || fail "-w $workers: held clients not logged"
	closed_lines | grep "server=127.0.0.2:" | grep -q "end=shutdown\|end=drain" &&
		fail "-w $workers: a connection of the removed server was cut"
	[ -z "$(removed)" ] || fail "-w $workers: with its clients gone, still listed: $(removed)"
	stop_weir
	hosts 127.0.0.2
done

# A dead name server: nothing changes, said once; its return is heard.
start_weir -b "app.test:$P,resolve" --resolvers "127.0.0.1:$dport" --resolve-interval 200ms \
	--admin "unix:$TMP/admin.sock"
dns_stop
# How soon the failure shows depends on c-ares' timeouts and the load (1 s, then 2 s, if a
# query was in flight as dnsmasq died): wait for it, then give the next rounds time to
# (wrongly) say it again.
dead_warnings() { grep -c "resolve app.test: .*keeping its 1 server" "$TMP/weir.log"; }
dead_logged() { [ "$(dead_warnings)" -ge 1 ]; }
wait_for dead_logged || wait_for dead_logged || # up to 20 s
	fail "a dead name server was not logged: $(grep "resolve app.test" "$TMP/weir.log")"
sleep 1.5
[ "$(servers)" = "127.0.0.2:$P " ] || fail "a dead name server changed the servers: $(servers)"
[ "$(dead_warnings)" = 1 ] ||
	fail "a dead name server was logged more than once: $(grep "resolve app.test" "$TMP/weir.log")"
served "with the name server dead"
hosts 127.0.0.4
dns_start "$P"
wait_for has_servers "127.0.0.4:$P " || fail "answers after the name server came back unused"
grep -q "resolve app.test: answers again" "$TMP/weir.log" || fail "the return was not logged"
stop_weir

# A name server that takes queries and never answers (c-ares waits out its timeouts every
# round): relaying goes on as if nothing happened.
start_server mute udp-silent
start_weir -b "127.0.0.4:$Q" -b "app.test:$P,resolve" --resolvers "127.0.0.1:$SERVER_PORT" \
	--resolve-interval 200ms --admin "unix:$TMP/admin.sock"
"$TCPKIT" client "127.0.0.1:$WEIR_PORT" --mode rr --requests 20000 --timeout 60 >"$TMP/rr.out" ||
	fail "round trips failed with a silent name server: $(cat "$TMP/rr.out")"
max=$(sed -n 's/.*max \([0-9]*\) us.*/\1/p' "$TMP/rr.out")
echo "round trips with a silent name server: $(cat "$TMP/rr.out")"
[ "$max" -lt 500000 ] || fail "a round trip paused $max us: the lookups held up the loop"
stop_weir

# SRV: the record gives the port; a changed record moves the server.
start_weir -b "_app._tcp.test,resolve=srv" --resolvers "127.0.0.1:$dport" \
	--resolve-interval 300ms --admin "unix:$TMP/admin.sock"
[ "$(servers)" = "127.0.0.4:$P " ] || fail "SRV at start: servers $(servers)"
served "from an SRV record"
dns_stop
dns_start "$Q"
wait_for has_servers "127.0.0.4:$Q " || fail "the SRV record's new port was not followed: $(servers)"
served "after the SRV record changed"
stop_weir

# SRV with two targets; then the name server of one stops answering (other.test is sent to
# a mute one): the last answer stays, both servers, as for any failed lookup.
dns_stop
printf '127.0.0.2 app.test\n127.0.0.3 other.test\n' >"$TMP/hosts"
dns_start "$P" --srv-host="_app._tcp.test,other.test,$P"
start_weir -b "_app._tcp.test,resolve=srv" --resolvers "127.0.0.1:$dport" \
	--resolve-interval 300ms --admin "unix:$TMP/admin.sock"
[ "$(servers)" = "127.0.0.2:$P 127.0.0.3:$P " ] || fail "SRV with two targets: servers $(servers)"
dns_stop
start_server mute2 udp-silent
printf '127.0.0.2 app.test\n' >"$TMP/hosts"
dns_start "$P" --srv-host="_app._tcp.test,other.test,$P" --server="/other.test/127.0.0.1#$SERVER_PORT"
wait_for grep -q "resolve _app._tcp.test: .*keeping its 2 server" "$TMP/weir.log" ||
	fail "a target whose lookup timed out was not a failed answer: $(grep resolve "$TMP/weir.log")"
[ "$(servers)" = "127.0.0.2:$P 127.0.0.3:$P " ] ||
	fail "a target whose lookup timed out lost its server: servers $(servers)"
stop_weir
# The same at start-up, with no answer yet to keep: the targets that answered give the only
# servers (said so); a later partial answer replaces that one (a target left the records);
# the other joins once its name server answers.
dns_stop
printf '127.0.0.2 app.test\n127.0.0.4 third.test\n' >"$TMP/hosts"
dns_start "$P" --srv-host="_app._tcp.test,other.test,$P" --srv-host="_app._tcp.test,third.test,$P" \
	--server="/other.test/127.0.0.1#$SERVER_PORT"
start_weir -b "_app._tcp.test,resolve=srv" --resolvers "127.0.0.1:$dport" \
	--resolve-interval 300ms --admin "unix:$TMP/admin.sock"
[ "$(servers)" = "127.0.0.2:$P 127.0.0.4:$P " ] ||
	fail "SRV at start, a target unanswered: servers $(servers)"
grep -q "resolve _app._tcp.test: a target did not answer: .*using the others' addresses" \
	"$TMP/weir.log" || fail "a partial SRV answer at start was not logged"
dns_stop
printf '127.0.0.2 app.test\n' >"$TMP/hosts"
dns_start "$P" --srv-host="_app._tcp.test,other.test,$P" --server="/other.test/127.0.0.1#$SERVER_PORT"
wait_for has_servers "127.0.0.2:$P " ||
	fail "a partial answer did not replace the partial one: servers $(servers)"
dns_stop
printf '127.0.0.2 app.test\n127.0.0.3 other.test\n' >"$TMP/hosts"
dns_start "$P" --srv-host="_app._tcp.test,other.test,$P"
wait_for has_servers "127.0.0.2:$P 127.0.0.3:$P " ||
	fail "the target that did not answer at start never joined: servers $(servers)"
grep -q "resolve _app._tcp.test: answers again" "$TMP/weir.log" || fail "the full answer was not logged"
stop_weir
dns_stop
printf '127.0.0.2 app.test\n' >"$TMP/hosts"
dns_start "$P"

# A changed answer whose rebuild fails (another server's name does not resolve for the
# moment): the rebuild is tried again after later rounds, and the new server comes.
if [ -f "${SLOWDNS:-}" ]; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export SLOWDNS_FAIL_FILE="$TMP/resolver-fails"
	hosts 127.0.0.2
	LD_PRELOAD="$SLOWDNS" start_weir -b "app.test:$P,resolve" -b "x.flaky.test:$Q" \
		--resolvers "127.0.0.1:$dport" --resolve-interval 300ms --admin "unix:$TMP/admin.sock"
	[ "$(servers)" = "127.0.0.1:$Q 127.0.0.2:$P " ] || fail "at start: servers $(servers)"
	touch "$SLOWDNS_FAIL_FILE"
	hosts 127.0.0.2 127.0.0.3
	wait_for grep -q "servers from DNS wait for the next round" "$TMP/weir.log" ||
		fail "no failed rebuild logged"
	rm -f "$SLOWDNS_FAIL_FILE"
	wait_for has_servers "127.0.0.1:$Q 127.0.0.2:$P 127.0.0.3:$P " ||
		fail "the answer whose rebuild failed was never applied: servers $(servers)"
	stop_weir
fi
# A named server stays itself when DNS brings its address to a resolve line before it: the
# drain set on it stays its own, not the new DNS server's.
hosts 127.0.0.2
start_weir -b "app.test:$P,resolve" --resolvers "127.0.0.1:$dport" --resolve-interval 300ms \
	--admin "unix:$TMP/admin.sock"
ctl add server default "127.0.0.3:$P,name=y1" >/dev/null || fail "adding y1 failed"
ctl set server default/y1 state drain >/dev/null
hosts 127.0.0.2 127.0.0.3
wait_for has_servers "127.0.0.2:$P 127.0.0.3:$P 127.0.0.3:$P " ||
	fail "the address DNS added beside y1 is not a server: $(servers)"
ctl show servers | grep -q "^default/y1 127.0.0.3:$P drain " ||
	fail "y1 lost its drain to DNS: $(ctl show servers)"
ctl show servers | grep -q "^default/127.0.0.3:$P 127.0.0.3:$P ready " ||
	fail "the server DNS added took y1's drain: $(ctl show servers)"
stop_weir
# A resolve line that a reload removes and a later one lists again is looked up afresh, not
# given the answer it had when it left (with an hour between rounds, that one would stay).
printf '[global]\nresolvers = 127.0.0.1:%s\nresolve-interval = 1h\nadmin = unix:%s\n' \
	"$dport" "$TMP/admin.sock" >"$TMP/static.conf"
printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n[backend app]\n' >>"$TMP/static.conf"
printf 'server = 127.0.0.1:%s\n' "$Q" >>"$TMP/static.conf"
cp "$TMP/static.conf" "$TMP/resolving.conf"
printf 'server = app.test:%s,resolve\n' "$P" >>"$TMP/resolving.conf"
cp "$TMP/resolving.conf" "$TMP/weir.conf"
hosts 127.0.0.2
WEIR_PORT=""
start_weir_conf "$TMP/weir.conf"
[ "$(servers)" = "127.0.0.1:$Q 127.0.0.2:$P " ] || fail "resolve line at start: servers $(servers)"
sighup "$TMP/static.conf" 1 "reloaded:" "the reload removing the resolve line failed"
[ "$(servers)" = "127.0.0.1:$Q " ] || fail "resolve line removed: servers $(servers)"
hosts 127.0.0.3
sighup "$TMP/resolving.conf" 2 "reloaded:" "the reload listing the resolve line again failed"
[ "$(servers)" = "127.0.0.1:$Q 127.0.0.3:$P " ] ||
	fail "a resolve line listed again kept its old answer: servers $(servers)"
stop_weir
# A reload that fails after it looked a name up (its new listener's port is taken) leaves no
# answer behind: the next reload that lists the name looks it up afresh.
hosts 127.0.0.2
cp "$TMP/static.conf" "$TMP/weir.conf"
WEIR_PORT=""
start_weir_conf "$TMP/weir.conf"
start_server busy echo
cp "$TMP/resolving.conf" "$TMP/busy.conf"
printf '[frontend busy]\nlisten = 127.0.0.1:%s\nbackend = app\n' "$SERVER_PORT" >>"$TMP/busy.conf"
sighup "$TMP/busy.conf" 1 "reload failed" "the reload onto a taken port did not fail"
hosts 127.0.0.3
sighup "$TMP/resolving.conf" 1 "reloaded:" "the reload listing the name failed"
[ "$(servers)" = "127.0.0.1:$Q 127.0.0.3:$P " ] ||
	fail "a failed reload's answer was used by the next: servers $(servers)"
stop_weir
# A reload shortens resolve-interval from an hour: the next lookup comes within the new one.
printf '[global]\nresolvers = 127.0.0.1:%s\nresolve-interval = 1h\nadmin = unix:%s\n' \
	"$dport" "$TMP/admin.sock" >"$TMP/weir.conf"
printf '[frontend web]\nlisten = 127.0.0.1:0\nbackend = app\n[backend app]\n' >>"$TMP/weir.conf"
printf 'server = app.test:%s,resolve\n' "$P" >>"$TMP/weir.conf"
hosts 127.0.0.2
WEIR_PORT=""
start_weir_conf "$TMP/weir.conf"
sed -i 's/^resolve-interval = .*/resolve-interval = 300ms/' "$TMP/weir.conf"
kill -HUP "$WEIR_PID"
wait_for logged_at_least 1 "reloaded:" || fail "the reload was not applied"
hosts 127.0.0.3
wait_for has_servers "127.0.0.3:$P " || fail "the shortened resolve-interval was not used: $(servers)"
stop_weir
# An IPv4 source, of the server line or of the backend: the name's IPv6 address is left
# out, at start-up and at every change, instead of failing the whole configuration.
for how in ",source=127.0.0.1" "--source"; do
	hosts 127.0.0.2 ::1
	if [ "$how" = --source ]; then
		start_weir -b "app.test:$P,resolve" --source 127.0.0.1 --resolvers "127.0.0.1:$dport" \
			--resolve-interval 300ms --admin "unix:$TMP/admin.sock"
	else
		start_weir -b "app.test:$P,resolve$how" --resolvers "127.0.0.1:$dport" \
			--resolve-interval 300ms --admin "unix:$TMP/admin.sock"
	fi
	[ "$(servers)" = "127.0.0.2:$P " ] || fail "an IPv4 source ($how) at start: servers $(servers)"
	hosts 127.0.0.2 127.0.0.3 ::1
	wait_for has_servers "127.0.0.2:$P 127.0.0.3:$P " ||
		fail "an IPv4 source ($how): the new IPv4 address was not used: servers $(servers)"
	served "with an IPv4 source ($how)"
	stop_weir
done
echo "dns ok"
