#!/usr/bin/env bash
# run.sh [SECONDS] [TARGET...] — run the cargo-fuzz targets one after another
# (default 300 s each) and copy any crash or timeout into
# ../tests/regressions/ so that `cargo test` replays it forever.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On a stable
# toolchain RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its nightly-only flags.
# Seed corpora: corpus/<target>/ (not committed; seed from shared/corpus).
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-300}; shift || true
targets=${*:-jpeg png webp tiff heif mp4 verify}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
regress=../tests/regressions
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t for ${secs}s"
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=262144 -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|^==|SUMMARY|panicked|Done" || true
  for f in artifacts/"$t"/*; do
    [ -f "$f" ] || continue
    cp "$f" "$regress/fuzz_${t}_$(basename "$f")"
    echo "   saved $(basename "$f") to $regress"
  done
done
