//! Writes the crafted hostile inputs of `bench/hostile/run.sh` into a
//! folder: `cargo run --release -p clinshare-media --example make_bombs -- DIR`.

#[path = "../tests/support/bombs.rs"]
mod bombs;

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: make_bombs DIR"));
    std::fs::create_dir_all(&dir).expect("create the folder");
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(dir.join(name), bytes).expect("write");
        println!("{name}");
    };
    write("png-14142-rgba16.png", bombs::png_rgba16(14142));
    write("jpeg-65500.jpg", bombs::jpeg_claiming(65500, 65500));
    write("jpeg-10000-scans.jpg", bombs::jpeg_progressive(10_000));
    write("heic-4096-tiles.heic", bombs::heic_grid(4096));
    write("webp-16383.webp", bombs::webp_claiming(16383, 16383));
    write("mp4-20m-samples.mp4", bombs::mp4_samples(20_000_000));
}
