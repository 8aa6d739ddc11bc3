#!/usr/bin/env bash
# The core and the media crate must never depend on Tauri (or any UI
# framework): they are driven by the shell, the CLI and the tests alike.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
for crate in clinshare-core clinshare-media clinshare-protocol; do
    if cargo tree -p "$crate" -e normal,build --prefix none --locked | grep -Eq '^(tauri|wry|tao|webkit2gtk)[ -]'; then
        echo "boundary broken: $crate depends on a UI framework:" >&2
        cargo tree -p "$crate" -e normal,build -i tauri --locked >&2 || true
        status=1
    else
        echo "ok: $crate does not depend on tauri"
    fi
done
exit $status
