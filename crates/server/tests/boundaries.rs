//! The server stands alone: no desktop store (`clinshare-core`), no Tauri,
//! no OS keyring, and no sqlx (it would link a second libsqlite3-sys).
//! Direct dependencies are checked here; `cargo tree -p clinshare-server`
//! shows the transitive ones.

#[test]
fn the_server_depends_on_neither_core_nor_tauri_nor_keyring() {
    let manifest = include_str!("../Cargo.toml");
    for line in manifest.lines().map(str::trim_start) {
        for forbidden in ["clinshare-core", "tauri", "keyring", "sqlx"] {
            assert!(!line.starts_with(forbidden), "forbidden dependency: {line}");
        }
    }
}
