//! Every input that once crashed or hung a parser stays here and must give a
//! result or an error, never a panic; anything accepted must verify.

use clinshare_media::{sanitise, thumbnail, verify, Limits};

#[test]
fn regression_corpus_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("regressions folder") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let bytes = std::fs::read(&p).expect("read");
        if let Ok(s) = sanitise(&bytes, &Limits::default()) {
            verify(&s.bytes, s.format).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let _ = thumbnail(&s.bytes, 64);
        }
        n += 1;
    }
    assert!(n > 0, "the regression corpus is empty");
}
