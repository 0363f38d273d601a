#!/bin/sh
# The status page in a real browser: headless Chromium, driven by puppeteer-core, loads it,
# sees a server whose process is killed turn DOWN within the health interval, and drains
# another with its button, then sets it ready and sees its slow start beside its weight
# (tests/browser/status_page.js). Chromium comes from Debian,
# puppeteer-core from npm (kept under the build directory for the next run).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

command -v node >/dev/null || fail "node is needed (scripts/deps.sh installs it)"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "chromium is needed (scripts/deps.sh installs it)"
npm_dir="${WEIR_NPM_DIR:-$PWD/tests/npm}"
if [ ! -d "$npm_dir/node_modules/puppeteer-core" ]; then
	mkdir -p "$npm_dir"
	(cd "$npm_dir" && timeout 300 npm install --no-audit --no-fund --silent \
		puppeteer-core@24 >"$TMP/npm.log" 2>&1) ||
		fail "cannot install puppeteer-core from npm: $(tail -n 5 "$TMP/npm.log")"
fi

start_server alpha echo
alpha_port=$SERVER_PORT alpha_pid=$SERVER_PID
start_server beta echo
beta_port=$SERVER_PORT
start_weir -b "127.0.0.1:$alpha_port,name=alpha" -b "127.0.0.1:$beta_port,name=beta" -w 2 \
	--stats 127.0.0.1:0 --stats-admin on --health-check tcp --health-interval 300ms --fall 2 \
	--slow-start 60s
sport=$(stats_port)
served "before the browser looks"

NODE_PATH="$npm_dir/node_modules" CHROMIUM="$CHROMIUM" timeout 120 \
	node "$WEIR_SRCDIR/tests/browser/status_page.js" "http://127.0.0.1:$sport/" "$alpha_pid" \
	"$TMP/status.png" >"$TMP/node.out" 2>&1 ||
	fail "the status page in Chromium: $(cat "$TMP/node.out")"
cat "$TMP/node.out"
forget_pid "$alpha_pid"
[ -s "$TMP/status.png" ] || fail "no screenshot"
[ -z "${WEIR_SCREENSHOT:-}" ] || cp "$TMP/status.png" "$WEIR_SCREENSHOT"
grep -q "server default/alpha is DOWN" "$TMP/weir.log" || fail "weir did not log alpha DOWN"
grep -q "server default/beta is now drain (admin)" "$TMP/weir.log" || fail "the drain was not logged"
stop_weir
