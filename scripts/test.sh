#!/usr/bin/env bash
# Runs every test: UI lint/type-check/unit tests, Rust format/lint/boundary
# checks, unit and integration tests (real keyring, real PostgreSQL started
# by the server's tests, an S3-compatible store (s3s-fs) for its object-store
# test, real TLS on loopback, schemathesis against the server), and end-to-end tests of the real app window under Xvfb. Installs
# what is missing first.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

apt_install "${APT_BUILD[@]}" "${APT_RUN[@]}" "${APT_TEST[@]}"
need_node
need_rust
need_tauri_driver
need_schemathesis
need_s3s_fs
ui_install

say "UI: lint, type-check, unit tests"
(cd ui && npm run lint && npm run check && npm test)
ui_build

say "Rust: formatting"
cargo fmt --all --check

say "Rust: crate boundaries"
bash scripts/check-boundaries.sh

say "Rust: build (one build of the workspace, tests included)"
cargo build --workspace --all-targets --locked

say "Rust: clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "Rust: tests, with a real Secret Service and a virtual display"
KEYRING_DIR="$(mktemp -d)"
set +e
with_keyring "$KEYRING_DIR" \
    xvfb-run -a -s "-screen 0 1280x800x24" \
    cargo test --workspace --locked --no-fail-fast -- --include-ignored
status=$?
set -e
remove_private_dir "$KEYRING_DIR"
if [ "$status" -eq 0 ]; then
    say "All tests passed"
else
    say "Some tests failed (cargo test exit status $status)"
fi
exit "$status"
