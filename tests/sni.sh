#!/bin/sh
# Routing by TLS server name without terminating TLS. Three TLS servers (openssl s_server,
# each with its own certificate) sit behind one frontend with route-sni: a real TLS client
# (openssl s_client, TLS 1.3 and 1.2) asking for a name completes its handshake with the
# server that name routes to (it sees that server's certificate), and an HTTP request goes
# through; an exact name beats a wildcard; no name, a name nothing matches, or a client that
# does not speak TLS at all goes to the frontend's own backend; a malformed hello is reset.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"
command -v openssl >/dev/null 2>&1 || skip "no openssl"

tls_server() { # NAME CN: an s_server with its own certificate; sets <NAME>_port
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
		-keyout "$TMP/$1.key" -out "$TMP/$1.crt" -days 2 2>/dev/null ||
		fail "cannot make a certificate"
	port=$(free_port)
	openssl s_server -accept "127.0.0.1:$port" -cert "$TMP/$1.crt" -key "$TMP/$1.key" -www \
		-quiet >/dev/null 2>>"$TMP/$1.log" &
	PIDS="$PIDS $!"
	wait_for listening_on "$port" || fail "s_server $1 did not start"
	eval "${1}_port=$port"
}
tls_server mail mail.example.com
tls_server web star.example.org
tls_server fallback default.example.net
start_server plain echo

cat >"$TMP/weir.conf" <<CONF
[frontend tls]
listen = 127.0.0.1:0
route-sni = mail.example.com mail
route-sni = *.example.org web
route-sni = exact.example.org mail
backend = fallback
[frontend mixed]
listen = 127.0.0.1:0
route-sni = mail.example.com mail
backend = plain
[backend mail]
server = 127.0.0.1:$mail_port
[backend web]
server = 127.0.0.1:$web_port
[backend fallback]
server = 127.0.0.1:$fallback_port
[backend plain]
server = 127.0.0.1:$(cat "$TMP/plain.port")
CONF
start_weir_conf "$TMP/weir.conf"
mixed=$(frontend_port mixed)

# reaches NAME-ARGS... EXPECTED_CN: a handshake through weir ends at the server with that name.
reaches() {
	cn=$1
	shift
	openssl s_client -connect "127.0.0.1:$WEIR_PORT" -brief "$@" </dev/null >"$TMP/s_client" 2>&1
	grep -q "CONNECTION ESTABLISHED" "$TMP/s_client" || fail "no handshake ($*): $(cat "$TMP/s_client")"
	grep -q "Peer certificate: CN = $cn" "$TMP/s_client" ||
		fail "$* reached the wrong server: $(grep 'Peer certificate' "$TMP/s_client")"
}
reaches mail.example.com -servername mail.example.com -tls1_3
reaches mail.example.com -servername MAIL.Example.COM -tls1_2
reaches star.example.org -servername www.example.org
reaches star.example.org -servername a.b.example.org -tls1_2
reaches mail.example.com -servername exact.example.org # an exact name beats the wildcard
reaches default.example.net -servername other.test
reaches default.example.net -noservername
reaches default.example.net -servername example.org # *.example.org needs a label before it

# Each connection is logged with the backend its name chose.
wait_for closed_at_least 8 || fail "expected 8 closed lines"
for b in mail:3 web:2 fallback:3; do
	n=$(closed_lines | grep -c "frontend=tls backend=${b%:*} server=127.0.0.1:$(eval echo "\$${b%:*}_port") ")
	[ "$n" -eq "${b#*:}" ] || fail "$n connections logged with backend ${b%:*}, not ${b#*:}"
done

# A request after the handshake: the bytes are relayed unchanged both ways.
reply=$(printf 'GET / HTTP/1.0\r\n\r\n' |
	timeout 10 openssl s_client -connect "127.0.0.1:$WEIR_PORT" -servername www.example.org \
		-quiet 2>/dev/null | head -n 1 | tr -d '\r')
[ "$reply" = "HTTP/1.0 200 ok" ] || fail "no HTTP answer through the routed TLS stream: '$reply'"

# Not TLS at all: the frontend's own backend, bytes untouched.
WEIR_PORT=$mixed "$TCPKIT" client "127.0.0.1:$mixed" --bytes 256k --timeout 10 >/dev/null ||
	fail "a client that does not speak TLS was not sent to the default backend"

# A malformed hello (a ServerHello where a ClientHello belongs) is reset, not relayed.
exec 3<>"/dev/tcp/127.0.0.1/$WEIR_PORT"
(printf '\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00' >&3) 2>/dev/null || true
status=0
timeout 5 cat <&3 >"$TMP/got" 2>"$TMP/err" || status=$?
exec 3<&-
[ "$status" -ne 124 ] && [ ! -s "$TMP/got" ] || fail "a malformed hello was not refused"
wait_for grep -q "end=bad-header" "$TMP/weir.log" || fail "the malformed hello was not logged"
grep -q "frontend=tls backend=- server=- server_name=- end=bad-header" "$TMP/weir.log" ||
	fail "a hello that chose no backend was logged with one: $(grep bad-header "$TMP/weir.log")"
stop_weir
echo "SNI routing ok"
