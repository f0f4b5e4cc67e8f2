#!/usr/bin/env bash
# fetch-data.sh - make the paper venue's recorded market data available.
#
# The data is real, public and not committed (see shared/data/marketdata/
# README.md).  If ../shared/data/marketdata exists beside this checkout it is
# used as it is.  Otherwise the files are downloaded from their public origins
# into .cache/marketdata/ (same relative paths), their sha256 is checked, and
# any failure is reported plainly with exit status 1.  Synthetic data is never
# substituted.
#
# Usage: tools/fetch-data.sh        (from anywhere; paths are relative to the repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$repo/../shared/data/marketdata"
cache="$repo/.cache/marketdata"

BINANCE_REL="binance_spot_btcusdt_2024-08-08/btcusdt_20240808.gz"
BINANCE_URL="https://raw.githubusercontent.com/nkaz001/hftbacktest/5f3ec40b2afb764e0fea112f941ed85523ef4e88/examples/spot/btcusdt_20240808.gz"
BINANCE_SHA="5d263f4c5379cfc27379ef0e22779aa33804463d1b69c292e9c0714e31f2e1b4"

LOBSTER_DIR="lobster_amzn_2012-06-21"
LOBSTER_URL="https://lobsterdata.com/info/sample/LOBSTER_SampleFile_AMZN_2012-06-21_1.zip"
LOBSTER_MSG="AMZN_2012-06-21_34200000_57600000_message_1.csv"
LOBSTER_MSG_SHA="9506cea0aab42b2815e13d2f2485b39ef6c0aa212d1bb68f344a52f0a24475f5"
LOBSTER_BOOK="AMZN_2012-06-21_34200000_57600000_orderbook_1.csv"
LOBSTER_BOOK_SHA="7c0c4664935a661ec467358a0d1c7bd5ad4e17c8d895c9198af1de3b6e95764a"

fail() {
    echo "fetch-data.sh: FAILED: $*" >&2
    echo "fetch-data.sh: the paper venue needs this real data; nothing synthetic is used instead." >&2
    exit 1
}

if [ -d "$shared" ]; then
    echo "fetch-data.sh: using $(cd "$shared" && pwd) (shared data beside the repo); nothing to fetch"
    exit 0
fi

for tool in curl sha256sum unzip; do
    command -v "$tool" > /dev/null 2>&1 || fail "'$tool' is not installed (apt-get install $tool)"
done

# check FILE SHA: the file's sha256 must be SHA.
check() {
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    [ "$got" = "$2" ] || fail "sha256 of $1 is $got, expected $2"
}

# fetch URL DEST: download to DEST.part, then rename.
fetch() {
    mkdir -p "$(dirname "$2")"
    echo "fetch-data.sh: downloading $1"
    curl --fail --location --silent --show-error --retry 3 --connect-timeout 20 \
        --output "$2.part" "$1" || { rm -f "$2.part"; fail "could not download $1"; }
    mv "$2.part" "$2"
}

mkdir -p "$cache" || fail "cannot create $cache"

# Binance capture.
dest="$cache/$BINANCE_REL"
if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$BINANCE_SHA" ]; then
    echo "fetch-data.sh: $dest already present and verified"
else
    fetch "$BINANCE_URL" "$dest"
    check "$dest" "$BINANCE_SHA"
    echo "fetch-data.sh: $dest verified"
fi

# LOBSTER sample: a zip holding the two CSV files.
ldir="$cache/$LOBSTER_DIR"
if [ -f "$ldir/$LOBSTER_MSG" ] && [ -f "$ldir/$LOBSTER_BOOK" ] &&
    [ "$(sha256sum "$ldir/$LOBSTER_MSG" | cut -d' ' -f1)" = "$LOBSTER_MSG_SHA" ] &&
    [ "$(sha256sum "$ldir/$LOBSTER_BOOK" | cut -d' ' -f1)" = "$LOBSTER_BOOK_SHA" ]; then
    echo "fetch-data.sh: $ldir already present and verified"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    fetch "$LOBSTER_URL" "$tmp/lobster.zip"
    unzip -q -o "$tmp/lobster.zip" -d "$tmp/x" || fail "could not unzip $LOBSTER_URL"
    mkdir -p "$ldir"
    for f in "$LOBSTER_MSG" "$LOBSTER_BOOK"; do
        src="$(find "$tmp/x" -name "$f" -type f | head -n 1)"
        [ -n "$src" ] || fail "$f is not in $LOBSTER_URL"
        cp "$src" "$ldir/$f"
    done
    check "$ldir/$LOBSTER_MSG" "$LOBSTER_MSG_SHA"
    check "$ldir/$LOBSTER_BOOK" "$LOBSTER_BOOK_SHA"
    echo "fetch-data.sh: $ldir verified"
fi
echo "fetch-data.sh: market data ready in $cache"
