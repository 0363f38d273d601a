#!/bin/sh
# Build weir's libFuzzer harnesses (tests/fuzz/fuzz_*.c) into OUTDIR, one executable each.
# Every harness is linked with the sources of lib/, compiled here by clang with the same
# instrumentation (coverage, AddressSanitizer, UndefinedBehaviorSanitizer, LeakSanitizer), so
# the fuzzer sees coverage in lib/. Works from any directory and writes only into OUTDIR.
#
#   tests/fuzz/build.sh OUTDIR
#
# Exit status: 0 built, 77 no clang that links -fsanitize=fuzzer (skip), other: failed.
# Environment: CLANG (default clang), FUZZ_CFLAGS (added to every compile).
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
fuzzdir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$fuzzdir/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
clang=${CLANG:-clang}
extra=${FUZZ_CFLAGS:-}

# clang with libFuzzer and the sanitizer runtimes (Debian: clang and libclang-rt-14-dev).
probe="$out/.probe"
rm -rf "$probe"
mkdir -p "$probe"
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d && n > 1 && d[1]; }' \
	>"$probe/probe.c"
if ! "$clang" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" \
	>"$probe/log" 2>&1; then
	echo "fuzz: skipped: '$clang' cannot link -fsanitize=fuzzer,address,undefined" \
		"(Debian: apt-get install clang libclang-rt-14-dev)"
	rm -rf "$probe"
	exit 77
fi
rm -rf "$probe"

inih_cflags=$(pkg-config --cflags inih 2>/dev/null || true)
inih_libs=$(pkg-config --libs inih 2>/dev/null || echo -linih)
cares_cflags=$(pkg-config --cflags libcares 2>/dev/null || true)
cares_libs=$(pkg-config --libs libcares 2>/dev/null || echo -lcares)

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
warn="-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes"
# As lib/ is built (configure.ac), with a config path that cannot exist: no harness may find
# an installed weir.conf.
set -- -g -O1 -std=gnu11 -pthread -D_GNU_SOURCE -DPACKAGE_VERSION='"fuzz"' \
	-DWEIR_CONFIG_FILE='"/nonexistent/weir.conf"' -I"$top/lib"

# lib/: coverage instrumentation without libFuzzer's main. Every source, rebuilt each time.
rm -rf "$out/obj"
mkdir -p "$out/obj"
for src in "$top"/lib/*.c; do
	obj="$out/obj/$(basename "$src" .c).o"
	# shellcheck disable=SC2086 # word splitting of the flag lists is intended
	"$clang" "$@" $san -fsanitize=fuzzer-no-link $warn -Wno-unused-parameter $inih_cflags \
		$cares_cflags $extra -c "$src" -o "$obj"
done

# No harness left from an earlier build: run.sh runs every fuzz_* here.
rm -f "$out"/fuzz_*
n=0
for src in "$fuzzdir"/fuzz_*.c; do
	name=$(basename "$src" .c)
	case $name in
	fuzz_argv)
		# Its check that parsing the command line reads no file (see fuzz_argv.c).
		wrap="-Wl,--wrap=fopen,--wrap=fopen64,--wrap=open,--wrap=open64"
		wrap="$wrap,--wrap=openat,--wrap=openat64,--wrap=access" ;;
	*) wrap= ;;
	esac
	# shellcheck disable=SC2086
	"$clang" "$@" $san -fsanitize=fuzzer $warn -Werror $inih_cflags $cares_cflags \
		$extra "$src" "$out"/obj/*.o -o "$out/$name" $wrap -lev $inih_libs $cares_libs -lm
	n=$((n + 1))
done
echo "fuzz: built $n harnesses in $out"
