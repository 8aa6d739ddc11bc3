// Shared by every target: run the whole pipeline and check its promises.
use clinshare_media::{sanitise, thumbnail, verify, Limits};

pub fn run(data: &[u8]) {
    // Small limits keep each run fast and exercise the limit paths.
    let limits = Limits {
        max_pixels: 4_000_000,
        max_dimension: 4096,
        max_decode_alloc: 64 * 1024 * 1024,
        ..Limits::default()
    };
    if let Ok(s) = sanitise(data, &limits) {
        // Anything accepted must verify again, and sanitising is idempotent.
        verify(&s.bytes, s.format).expect("sanitised output verifies");
        let again = sanitise(&s.bytes, &limits).expect("sanitised output sanitises");
        assert_eq!(again.bytes, s.bytes, "sanitising is idempotent");
        let _ = thumbnail(&s.bytes, 32);
    }
}
