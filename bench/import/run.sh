#!/usr/bin/env bash
# run.sh — import throughput and peak memory: N (default 100) distinct 12 MP
# JPEGs with rich metadata imported with `clinshare import` (strip, verify,
# thumbnail, encrypt, store, on all cores), as the app's import does.
# Needs a Secret Service session (scripts/bench.sh provides one),
# ImageMagick, exiftool and GNU time. Targets: >= 20 photos/s on 2 cores,
# peak resident memory < 300 MB.
#
# Usage: bench/import/run.sh [WORKDIR] [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-/tmp/clinshare-import-bench}
n=${2:-100}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
"$here/../strip/make-photos.sh" "$work/base" 1 >/dev/null
photos=$work/photos
mkdir -p "$photos"
# Distinct pictures from one base, without re-encoding: each copy gets a
# different value in one quantisation table entry (a valid JPEG whose
# pixels, and so whose hash, differ), so none is skipped as a duplicate.
python3 - "$work/base/photo_1.jpg" "$photos" "$n" <<'PY'
import sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytearray(open(src, 'rb').read())
# Walk the segments (an EXIF thumbnail has its own DQT inside APP1) to the
# main image's first quantisation table.
i = 2
while data[i + 1] != 0xDB:
    i += 2 + int.from_bytes(data[i + 2:i + 4], 'big')
entry = i + 5 + 63  # first table, last (highest-frequency) coefficient
for k in range(n):
    d = bytearray(data)
    d[entry] = 1 + (d[entry] + k) % 255
    open(f"{out}/photo_{k:03d}.jpg", 'wb').write(d)
PY
(cd "$root" && cargo build -q --release -p clinshare-cli --locked)
bin=$CARGO_TARGET_DIR/release/clinshare
data=$work/store
rm -rf "$data"
export CLINSHARE_PASSPHRASE="benchmark passphrase"
"$bin" --data-dir "$data" init --user Bench >/dev/null
"$bin" --data-dir "$data" --user Bench patient add --nhs "943 476 5919" \
    --family Doe --given Jane --dob 1972-04-15 >/dev/null
bytes=$(du -cb "$photos"/*.jpg | tail -1 | cut -f1)
echo "# $n photos, 4000x3000 JPEG, $((bytes / n / 1024)) KiB each, $(nproc) cores"
/usr/bin/time -f "%e %M" -o "$work/time.txt" \
    "$bin" --data-dir "$data" --user Bench import --patient "943 476 5919" "$photos" >/dev/null
read -r secs kib < "$work/time.txt"
imported=$("$bin" --data-dir "$data" --user Bench --json media list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["media"]))')
python3 - "$secs" "$kib" "$imported" "$n" <<'PY'
import sys
secs, kib, imported, n = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"imported {imported}/{n} in {secs:.1f} s: {imported / secs:.1f} photos/s (target >= 20)")
print(f"peak resident memory {kib / 1024:.0f} MB (target < 300 MB)")
PY
# Closing the keyring entry of this throw-away store is left to the
# private keyring's removal by scripts/bench.sh.
