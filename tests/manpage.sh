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
command -v mandoc >/dev/null 2>&1 || skip "mandoc is not installed; options are documented"
mandoc -T lint -W warning "$page" >"$TMP/lint" 2>&1 || {
	cat "$TMP/lint" >&2
	fail "mandoc -T lint found problems"
}
echo "man page ok: $(wc -l <"$TMP/options") options documented"
