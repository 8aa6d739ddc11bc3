include!("src/ipc/names.rs");

fn main() {
    // Each app command gets an `allow-<name>` permission; the main window's
    // capability grants exactly those it needs.
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build step");
}
