#!/usr/bin/env bash
# run.sh — throughput of `clinshare strip` against peer tools on 50 synthetic
# 12 MP JPEGs with rich metadata, plus the 12 MP thumbnail time.
#
# Usage: [BASELINE_BIN=path/to/older/clinshare] bench/strip/run.sh [WORKDIR]
#        (default WORKDIR /tmp/clinshare-bench)
# With BASELINE_BIN, another build of `clinshare` (e.g. the last release) is
# timed in the same run, so a change's cost is read without the machine's
# drift between runs.
# "vs clinshare" divides each tool's time by the default (full-decode) run.
# "cpu s" is user+sys time of all threads (best run). Needs: ImageMagick,
# exiftool, /usr/bin/time (Debian: time); optional peers: exiv2, jpegtran
# (libjpeg-turbo-progs), mat2. Builds the release binary if needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-/tmp/clinshare-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
src=$work/photos
"$here/make-photos.sh" "$src" 50 >/dev/null
n=$(ls "$src"/photo_*.jpg | wc -l)
bin=$CARGO_TARGET_DIR/release/clinshare
(cd "$root" && cargo build -q --release -p clinshare-cli)
cores=$(nproc)
bytes=$(du -cb "$src"/photo_*.jpg | tail -1 | cut -f1)
echo "# $n photos, 4000x3000 JPEG, $((bytes / n / 1024)) KiB each, $cores cores"

now() { date +%s.%N; }
out=$work/out
fresh() { rm -rf "$out"; mkdir -p "$out"; }
declare -A secs cpus
# time_best NAME RUNS PREP CMD...: best wall time of RUNS runs (PREP untimed),
# and the least CPU time (user+sys, all threads) of those runs: on a shared
# machine the wall time also counts waiting for a core, the CPU time does not.
time_best() {
  local name=$1 runs=$2 prep=$3; shift 3
  local best="" cbest=""
  for _ in $(seq "$runs"); do
    fresh; eval "$prep"
    local t0 t1; t0=$(now); /usr/bin/time -f "%U %S" -o "$work/cpu" "$@" >/dev/null 2>&1 || true; t1=$(now)
    local d c; d=$(echo "$t1 - $t0" | bc -l); c=$(awk '{print $1 + $2}' "$work/cpu" | tail -1)
    if [ -z "$best" ] || [ "$(echo "$d < $best" | bc -l)" = 1 ]; then best=$d; fi
    if [ -z "$cbest" ] || [ "$(echo "$c < $cbest" | bc -l)" = 1 ]; then cbest=$c; fi
  done
  secs[$name]=$best
  cpus[$name]=$cbest
}
verdict() {  # orientation kept? pixels unchanged? residue left?
  local f=$out/photo_01.jpg o px res
  [ -f "$f" ] || { echo "no output"; return; }
  o=$(exiftool -s3 -n -Orientation "$f"); [ "$o" = 6 ] && o="kept" || o="LOST"
  if [ "$(convert "$src/photo_01.jpg" -depth 8 rgb:- | sha256sum)" = "$(convert "$f" -depth 8 rgb:- | sha256sum)" ]; then px=identical; else px=CHANGED; fi
  res=$(bash "$root/../shared/tools/residual-metadata.sh" -q "$out" 2>/dev/null | tail -1 | sed -E 's/.*scanned, ([0-9]+) with.*/\1/')
  echo "orientation $o, pixels $px, files with residue: ${res:-?}/$n"
}
declare -A notes
run_tool() { local name=$1; shift; time_best "$name" "$@"; notes[$name]=$(verdict); }

copy_in() { cp "$src"/photo_*.jpg "$out"/; }
run_tool "cp" 3 ":" bash -c "cp '$src'/photo_*.jpg '$out'/"
# The default checks structure, metadata and the coded picture byte for
# byte; `--verify full` also decodes every pixel.
run_tool "clinshare strip" 3 ":" "$bin" strip "$src" --out "$out"
if [ -n "${BASELINE_BIN:-}" ]; then
  run_tool "clinshare strip (baseline build)" 3 ":" "$BASELINE_BIN" strip "$src" --out "$out"
fi
# The report holds each copy's SHA-256, which costs about as much as stripping.
run_tool "clinshare strip --report" 3 ":" "$bin" strip "$src" --out "$out" --report "$work/report.json"
run_tool "clinshare strip --verify full" 1 ":" "$bin" strip "$src" --out "$out" --verify full
run_tool "exiftool -all=" 1 ":" bash -c "exiftool -q -all= -o '$out'/ '$src'/photo_*.jpg"
run_tool "exiftool -all= (keep ICC+Orientation)" 1 ":" bash -c "exiftool -q -all= --icc_profile:all -tagsfromfile @ -Orientation -o '$out'/ '$src'/photo_*.jpg"
command -v exiv2 >/dev/null && run_tool "exiv2 rm" 1 copy_in bash -c "exiv2 rm '$out'/photo_*.jpg"
command -v jpegtran >/dev/null && run_tool "jpegtran -copy none" 1 ":" bash -c "for f in '$src'/photo_*.jpg; do jpegtran -copy none -outfile '$out'/\$(basename \$f) \$f; done"
command -v mat2 >/dev/null && run_tool "mat2 --inplace" 1 copy_in bash -c "mat2 --inplace '$out'/photo_*.jpg"

ours=${secs["clinshare strip"]}
echo "# load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-42s %9s %9s %12s %8s  %s\n" tool seconds files/s "vs clinshare" "cpu s" "result"
for name in "clinshare strip" "clinshare strip (baseline build)" "clinshare strip --report" "clinshare strip --verify full" "cp" "exiftool -all=" "exiftool -all= (keep ICC+Orientation)" "exiv2 rm" "jpegtran -copy none" "mat2 --inplace"; do
  [ -n "${secs[$name]:-}" ] || continue
  s=${secs[$name]}
  printf "%-42s %9.2f %9.1f %11.2fx %8.2f  %s\n" "$name" "$s" "$(echo "$n / $s" | bc -l)" "$(echo "$s / $ours" | bc -l)" "${cpus[$name]}" "${notes[$name]}"
done

echo "# single-photo timings (criterion, release):"
(cd "$root" && CLINSHARE_BENCH_JPEG=$src/photo_01.jpg cargo bench -q -p clinshare-media --bench media -- --noplot 2>/dev/null \
  | awk '/^jpeg_12mp/ {n = $1} /time:/ {sub(/.*time: +/, ""); print n, "time:", $0}')

# Thumbnail peers on the same photo: libjpeg-turbo's scaled decode alone
# (no resize or encode) and ImageMagick's thumbnail, per photo, process
# start included.
per_photo() {  # RUNS CMD...: mean wall milliseconds
  local runs=$1; shift
  local t0 t1; t0=$(now)
  for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1; done
  t1=$(now)
  echo "($t1 - $t0) * 1000 / $runs" | bc -l | xargs printf "%.1f"
}
echo "# thumbnail peers (mean of runs, ms): djpeg -scale 1/8 $(per_photo 20 djpeg -scale 1/8 -outfile /dev/null "$src/photo_01.jpg"), convert -thumbnail 256x256 $(per_photo 5 convert "$src/photo_01.jpg" -thumbnail 256x256 "$work/thumb.jpg")"
