//! The TypeScript bindings in ui/src/lib/bindings are generated from Rust.
//! This test fails when they drift; `UPDATE_BINDINGS=1 cargo test -p
//! clinshare-app --test bindings` rewrites them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "ts") {
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                files.insert(name, fs::read_to_string(&path).expect("read"));
            }
        }
    }
    files
}

#[test]
fn typescript_bindings_match_the_rust_types() {
    let committed_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings");
    let fresh = tempfile::tempdir().expect("tempdir");
    clinshare_app::ipc::export_bindings(fresh.path()).expect("export");
    let generated = read_dir(fresh.path());
    assert!(generated.contains_key("commands.ts"));
    assert!(generated.contains_key("StoreStatus.ts"));

    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        fs::create_dir_all(&committed_dir).expect("mkdir");
        for stale in read_dir(&committed_dir).keys() {
            if !generated.contains_key(stale) {
                fs::remove_file(committed_dir.join(stale)).expect("remove stale");
            }
        }
        for (name, contents) in &generated {
            fs::write(committed_dir.join(name), contents).expect("write");
        }
        return;
    }

    let committed = read_dir(&committed_dir);
    let mut drift = Vec::new();
    for (name, contents) in &generated {
        match committed.get(name) {
            None => drift.push(format!("missing: {name}")),
            Some(c) if c != contents => drift.push(format!("changed: {name}")),
            Some(_) => {}
        }
    }
    for name in committed.keys() {
        if !generated.contains_key(name) {
            drift.push(format!("not generated any more: {name}"));
        }
    }
    assert!(
        drift.is_empty(),
        "TypeScript bindings drifted from the Rust types ({}). Run \
         `UPDATE_BINDINGS=1 cargo test -p clinshare-app --test bindings` and commit the result.",
        drift.join(", ")
    );
}

#[test]
fn every_command_has_a_binding_and_a_permission() {
    assert_eq!(
        clinshare_app::ipc::command_names(),
        clinshare_app::ipc::COMMANDS
    );
    let capability: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("capabilities/main.json"),
        )
        .expect("capability file"),
    )
    .expect("json");
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    for command in clinshare_app::ipc::COMMANDS {
        let permission = format!("allow-{}", command.replace('_', "-"));
        assert!(
            granted.contains(&permission.as_str()),
            "the main window's capability does not grant {permission}"
        );
    }
    assert_eq!(
        capability["windows"],
        serde_json::json!(["main"]),
        "one window only"
    );
}
