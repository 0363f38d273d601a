#!/bin/sh
# Run every harness that tests/fuzz/build.sh put in OUTDIR for SECONDS each, one after the
# other, each on a copy of its seed corpus (tests/fuzz/corpus/NAME/) with its dictionary
# (tests/fuzz/NAME.dict) if it has one. Nothing is written into the source tree.
#
#   tests/fuzz/run.sh OUTDIR SECONDS
#
# Prints "NAME: N execs, ok" per harness. If a harness finds a crash, a leak, a timeout
# (-timeout=10), an out-of-memory (-rss_limit_mb=2048) or a sanitizer report, it prints the
# input libFuzzer saved, its bytes and the report, keeps the work directory, and the script
# exits 1 once every harness has run. Extra libFuzzer flags: FUZZ_FLAGS (e.g. -seed=1 or
# -runs=N); FUZZ_KEEP=1 keeps the work directory (logs, grown corpora) after a clean run.
set -eu

if [ $# -ne 2 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR SECONDS" >&2
	exit 2
fi
case $2 in
'' | *[!0-9]* | 0)
	echo "$0: SECONDS must be a whole number above 0, not '$2'" >&2
	exit 2
	;;
esac
fuzzdir=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$1" && pwd)
secs=$2
flags=${FUZZ_FLAGS:-}

set -- "$out"/fuzz_*
if [ ! -x "$1" ]; then
	echo "$0: no harness in $out (run tests/fuzz/build.sh $out first)" >&2
	exit 2
fi

# Stacks for UBSan reports too; an explicit setting wins.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export UBSAN_OPTIONS

# run_one BIN DIR [FLAG...]: the fuzzer in DIR (where it may write), its output in DIR/log.
# libFuzzer stops itself after -max_total_time; `timeout` is for a fuzzer that does not.
run_one() {
	bin=$1 dir=$2
	shift 2
	# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
	(cd "$dir" && exec timeout -k 10 $((secs + 60)) "$bin" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
		"$@" $flags corpus) >"$dir/log" 2>&1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/weir-fuzz.XXXXXX")
failed=0
for bin in "$out"/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
	name=$(basename "$bin")
	dir="$work/$name"
	mkdir -p "$dir/corpus"
	if [ -d "$fuzzdir/corpus/$name" ]; then
		cp -R "$fuzzdir/corpus/$name/." "$dir/corpus/"
	fi
	rc=0
	if [ -f "$fuzzdir/$name.dict" ]; then
		run_one "$bin" "$dir" -dict="$fuzzdir/$name.dict" || rc=$?
	else
		run_one "$bin" "$dir" || rc=$?
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$dir/log" | tail -n 1)
	found=
	for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
		[ -f "$a" ] && found=yes
	done
	if [ "$rc" -eq 0 ] && [ -z "$found" ] && [ -n "$execs" ]; then
		echo "$name: $execs execs, ok"
		continue
	fi
	failed=1
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "$name: FAILED: still running $((secs + 60))s after it started (killed)"
	else
		echo "$name: FAILED (exit status $rc${execs:+, after $execs execs})"
	fi
	for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
		[ -f "$a" ] || continue
		echo "  input: $a ($(wc -c <"$a") bytes):"
		od -A x -t x1z -v "$a" | head -n 32 | sed 's/^/    /'
	done
	echo "  report (the whole log: $dir/log):"
	pattern='ERROR|runtime error|property failed|ALARM|must not read files'
	if grep -q -E "$pattern" "$dir/log"; then
		# From the first report line; not ASan's map of shadow memory.
		awk -v p="$pattern" '$0 ~ p { on = 1 } /^Shadow byte/ { skip = 1 }
			skip && /^(==|MS:)/ { skip = 0 }
			on && !skip && n < 150 { print "    " $0; n++ }' "$dir/log"
	else
		tail -n 40 "$dir/log" | sed 's/^/    /'
	fi
done

if [ "$failed" -ne 0 ]; then
	echo "fuzz: FAILED; inputs and logs kept in $work"
	exit 1
fi
if [ -n "${FUZZ_KEEP:-}" ]; then
	echo "fuzz: logs and corpora kept in $work"
else
	rm -rf "$work"
fi
