//! Embeds `migrations/*.sql` (at the workspace root) into the binary, in order.
use std::{env, fs, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<(i64, String, PathBuf)> = fs::read_dir(&dir)
        .expect("migrations/ directory at the workspace root")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name")
                .to_owned();
            let (version, name) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("migration {stem} must be named <timestamp>_<name>.sql"));
            let version: i64 = version
                .parse()
                .unwrap_or_else(|_| panic!("migration {stem}: version must be a number"));
            (version, name.to_owned(), p)
        })
        .collect();
    entries.sort_by_key(|e| e.0);
    for pair in entries.windows(2) {
        assert!(
            pair[0].0 != pair[1].0,
            "two migrations share version {}",
            pair[0].0
        );
    }
    let mut out = String::from("/// Embedded migrations: (version, name, sql), oldest first.\npub(crate) static MIGRATIONS: &[(i64, &str, &str)] = &[\n");
    for (version, name, path) in &entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let abs = fs::canonicalize(path).expect("migration path");
        out.push_str(&format!(
            "    ({version}, {name:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("migrations.rs");
    fs::write(dest, out).expect("write migrations.rs");
}
