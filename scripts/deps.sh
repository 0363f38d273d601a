# Sourced by scripts/quickstart and scripts/check: install, once, what building and testing
# weir needs on Debian 12. Nothing is assumed to be on the machine beforehand.

WEIR_BUILD_DEPS="gcc make autoconf automake pkg-config libev-dev libinih-dev libc-ares-dev libcmocka-dev mandoc iproute2"
# What only the tests need: jq and promtool (in Debian's prometheus) check the stats output;
# openssl plays TLS clients and servers; haproxy is a real PROXY protocol peer; chromium
# (with node and npm, for puppeteer-core) shows the status page; dnsmasq answers DNS;
# c-ares resolves without blocking (libc-ares-dev to build against); clang, with the
# libFuzzer and sanitizer runtimes of libclang-rt-14-dev, builds the fuzzing harnesses.
WEIR_TEST_DEPS="jq prometheus openssl haproxy chromium dnsmasq-base clang libclang-rt-14-dev"
# A node from elsewhere (NodeSource) has its own npm; Debian's needs its npm package.
command -v node >/dev/null 2>&1 || WEIR_TEST_DEPS="$WEIR_TEST_DEPS nodejs npm"

# deps_install [PACKAGES]: install what is missing of PACKAGES (default: the build's).
deps_install() {
	missing=""
	for pkg in ${1:-$WEIR_BUILD_DEPS}; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $pkg"
	done
	[ -n "$missing" ] || return 0
	echo "==> installing:$missing"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || {
			echo "error: need root (or sudo) to install:$missing" >&2
			return 1
		}
		sudo="sudo"
	fi
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

# Generate ./configure once per checkout (or when configure.ac/Makefile.am change).
deps_bootstrap() {
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		echo "==> autoreconf"
		autoreconf -fi
	fi
}
