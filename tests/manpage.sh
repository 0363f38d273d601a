#!/bin/sh
# The man page documents every option --help lists, and mandoc finds nothing wrong with it.
. "${WEIR_SRCDIR:-.}/tests/lib.sh"

page="$WEIR_SRCDIR/man/weir.8"
[ -f "$page" ] || fail "no man page at $page"
"$WEIR" --help | grep -o -- '--[a-z][a-z-]*' | sort -u >"$TMP/options"
[ -s "$TMP/options" ] || fail "no options found in --help"
# The page writes dashes as \-; compare against its text without the escapes.
tr -d '\\' <"$page" | grep '^\.It Fl ' >"$TMP/items"
missing=""
while read -r opt; do
	grep -q -- "Fl -${opt#--}\( \|$\)" "$TMP/items" || missing="$missing $opt"
done <"$TMP/options"
[ -z "$missing" ] || fail "options missing from weir.8:$missing"
for section in OPTIONS SIGNALS ENVIRONMENT "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	grep -q "^\.Sh $section" "$page" || fail "weir.8 has no $section section"
done
# Every key of the configuration (-t prints them all when every one is set) is in weir.conf(5).
conf="$WEIR_SRCDIR/man/weir.conf.5"
[ -f "$conf" ] || fail "no man page at $conf"
"$WEIR" -t -l :1 -b 127.0.0.1:1 --health-send x --health-expect y |
	sed -n 's/^\([a-z-]*\) = .*/\1/p' | sort -u >"$TMP/keys"
[ "$(wc -l <"$TMP/keys")" -ge 15 ] || fail "-t printed too few keys: $(cat "$TMP/keys")"
missing=""
while read -r key; do
	grep -q "^\.It Ic $key No" "$conf" || missing="$missing $key"
done <"$TMP/keys"
[ -z "$missing" ] || fail "keys missing from weir.conf.5:$missing"

command -v mandoc >/dev/null 2>&1 || skip "mandoc is not installed; options and keys are documented"
for p in "$page" "$conf"; do
	mandoc -T lint -W warning "$p" >"$TMP/lint" 2>&1 || {
		cat "$TMP/lint" >&2
		fail "mandoc -T lint found problems in $p"
	}
done
echo "man pages ok: $(wc -l <"$TMP/options") options, $(wc -l <"$TMP/keys") keys documented"
