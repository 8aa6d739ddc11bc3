#!/usr/bin/env bash
# run.sh — what crafted hostile inputs cost ClinShare: for each (a PNG of
# 14142² RGBA16, a JPEG claiming 65500², a progressive JPEG with 10,000
# scans, a HEIC grid of 4,096 tiles, a WebP of 16383², an MP4 listing 20
# million samples, and a folder of 8 PNG bombs imported at once) the
# outcome of `clinshare import` and `clinshare strip --verify full` (refused
# with its code, or kept), their wall time and peak resident memory. Then
# the shared corpus is imported, to show nothing legitimate is refused.
# Goal: every bomb refused or handled in under 3 s, peak RSS under 400 MB.
#
# Not measured here: the server's intake and the recipient's `inbox open`
# (a bomb cannot be sent through a real laptop, which refuses it first; the
# server's and the inbox's checks are the same verifier, whose refusal
# from the headers `crates/media/tests/bombs.rs` shows).
#
# Usage: bench/hostile/run.sh [WORKDIR]   (default /tmp/clinshare-hostile)
# Needs a Secret Service session (scripts/bench.sh provides one; without
# one this script starts its own), GNU time and python3. Release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${CLINSHARE_HOSTILE_IN_KEYRING:-}" ]; then
    source "$root/scripts/lib/common.sh"
    d=$(mktemp -d)
    trap 'remove_private_dir "$d"' EXIT
    CLINSHARE_HOSTILE_IN_KEYRING=1 with_keyring "$d" bash "$0" "$@"
    exit $?
fi
work=${1:-/tmp/clinshare-hostile}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build -q --release --locked -p clinshare-cli \
    && cargo build -q --release --locked -p clinshare-media --example make_bombs)
bin=$CARGO_TARGET_DIR/release/clinshare
rm -rf "$work"
mkdir -p "$work/bombs" "$work/eight"
"$CARGO_TARGET_DIR/release/examples/make_bombs" "$work/bombs" >/dev/null
for i in $(seq 8); do cp "$work/bombs/png-14142-rgba16.png" "$work/eight/bomb-$i.png"; done

export CLINSHARE_PASSPHRASE="hostile benchmark passphrase"
data=$work/laptop
"$bin" --data-dir "$data" init --user Bench >/dev/null
cs() { "$bin" --data-dir "$data" --user Bench "$@"; }

# measure LABEL CMD...: outcome (the first error code, or "kept"), seconds
# and peak RSS of one run.
measure() {
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || true
    local secs kib outcome
    # GNU time puts "Command exited with non-zero status N" first.
    read -r secs kib < <(tail -1 "$work/time")
    outcome=$(grep -o '\[media\.[a-z_]*\]\|media\.[a-z_]*' "$work/err" "$work/out" 2>/dev/null \
        | head -1 | tr -d '[]' | sed 's/.*://')
    [ -n "$outcome" ] || outcome=kept
    printf "%-26s %-22s %-28s %7.2f %8.0f\n" "$(basename "${@: -1}")" "$label" "$outcome" "$secs" "$((kib / 1024))"
}

echo "# $(nproc) cores; goal: each refused or handled in < 3 s with peak RSS < 400 MB"
printf "%-26s %-22s %-28s %7s %8s\n" input command outcome seconds "RSS MB"
for f in "$work"/bombs/*; do
    printf "# %s: %s bytes\n" "$(basename "$f")" "$(stat -c %s "$f")"
    measure "import" cs import "$f"
    rm -rf "$work/stripped"
    measure "strip --verify full" "$bin" strip --verify full --out "$work/stripped" "$f"
done
measure "import (8 at once)" cs import "$work/eight"

corpus=$root/../shared/corpus
if [ -d "$corpus" ]; then
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --data-dir "$data" --user Bench --json \
        import "$corpus" > "$work/corpus.json" 2>/dev/null || true
    read -r secs kib < <(tail -1 "$work/time")
    python3 - "$work/corpus.json" "$secs" "$kib" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
print(f"# shared corpus: {doc['imported']} imported, {doc['duplicate']} duplicate, "
      f"{doc['rejected']} rejected (damaged or unsupported) in {float(sys.argv[2]):.1f} s, "
      f"peak RSS {int(sys.argv[3]) // 1024} MB")
PY
fi
