//! A TCP proxy between the laptop and the server that misbehaves on
//! purpose: it delays what it forwards, can hold uploads to a slow link's
//! rate and, while faults are on, cuts connections after a random number
//! of bytes. TLS passes through it untouched (the pin is on the server's
//! key, not its address).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub addr: SocketAddr,
    /// Cut connections at random points while set.
    pub cuts: Arc<AtomicBool>,
    /// Connections cut so far.
    pub cut_count: Arc<AtomicU64>,
    /// Bytes forwarded from the laptop to the server so far.
    pub sent_up: Arc<AtomicU64>,
    /// The laptop's bytes per second (0: no limit); may be changed while
    /// it runs, as a link gets better.
    pub up_rate: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

/// A small deterministic generator (xorshift): no dependency, and a
/// failing run can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// A seed from `CLINSHARE_TEST_SEED`, else from the clock; printed, so
    /// that a failing run can be replayed.
    pub fn seed() -> u64 {
        let seed = std::env::var("CLINSHARE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("CLINSHARE_TEST_SEED={seed}");
        seed
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub struct Faults {
    /// Percentage of connections cut (while cuts are on).
    pub cut_percent: u64,
    /// Cut such a connection after up to this many bytes.
    pub max_cut_after: u64,
    /// Delay each forwarded read by up to this many milliseconds.
    pub max_delay_ms: u64,
    /// Forward the laptop's bytes at most this fast, per connection (a
    /// slow mobile link); 0 for no limit.
    pub up_bytes_per_second: u64,
}

impl Faults {
    /// A proxy that only forwards.
    pub const NONE: Faults = Faults {
        cut_percent: 0,
        max_cut_after: 1,
        max_delay_ms: 0,
        up_bytes_per_second: 0,
    };
}

impl Proxy {
    pub fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cuts = Arc::new(AtomicBool::new(false));
        let cut_count = Arc::new(AtomicU64::new(0));
        let sent_up = Arc::new(AtomicU64::new(0));
        let up_rate = Arc::new(AtomicU64::new(faults.up_bytes_per_second));
        let faults = Arc::new(faults);
        let (c, n) = (cuts.clone(), cut_count.clone());
        let up = Up {
            sent: sent_up.clone(),
            rate: up_rate.clone(),
        };
        runtime.spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let cut_after = (c.load(Ordering::SeqCst) && rng.below(100) < faults.cut_percent)
                    .then(|| rng.below(faults.max_cut_after));
                let seed = rng.next();
                let (faults, n, up) = (faults.clone(), n.clone(), up.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, cut_after, &faults, seed, &n, &up).await;
                    }
                });
            }
        });
        Proxy {
            addr,
            cuts,
            cut_count,
            sent_up,
            up_rate,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// The laptop-to-server direction's counter and rate, shared by all
/// connections.
#[derive(Clone)]
struct Up {
    sent: Arc<AtomicU64>,
    rate: Arc<AtomicU64>,
}

/// Forward both ways until either side closes or `cut_after` bytes (both
/// directions together) have passed; then drop both sockets.
async fn pipe(
    client: TcpStream,
    server: TcpStream,
    cut_after: Option<u64>,
    faults: &Faults,
    seed: u64,
    cut_count: &AtomicU64,
    up: &Up,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let passed = Arc::new(AtomicU64::new(0));
    let limit = cut_after.unwrap_or(u64::MAX);
    let up = forward(
        &mut cr,
        &mut sw,
        Link {
            passed: &passed,
            limit,
            max_delay_ms: faults.max_delay_ms,
            rate: Some(&up.rate),
            counted: Some(&up.sent),
        },
        seed,
    );
    let down = forward(
        &mut sr,
        &mut cw,
        Link {
            passed: &passed,
            limit,
            max_delay_ms: faults.max_delay_ms,
            rate: None,
            counted: None,
        },
        seed ^ 0x5555,
    );
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
    if passed.load(Ordering::SeqCst) >= limit {
        cut_count.fetch_add(1, Ordering::SeqCst);
    }
}

/// One direction of a connection: the bytes both directions have passed
/// (for the cut), and this direction's delays, rate and counter.
struct Link<'a> {
    passed: &'a AtomicU64,
    limit: u64,
    max_delay_ms: u64,
    rate: Option<&'a AtomicU64>,
    counted: Option<&'a AtomicU64>,
}

async fn forward(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    link: Link<'_>,
    seed: u64,
) {
    let Link {
        passed,
        limit,
        max_delay_ms,
        rate,
        counted,
    } = link;
    let mut rng = Rng::new(seed);
    // Small reads under a rate limit, so the link trickles as a slow one does.
    let mut buf = vec![0u8; if rate.is_some() { 4096 } else { 16 * 1024 }];
    // When the link is free again: an idle link earns no credit, as on a
    // real one, so a burst after a pause is still held to the rate.
    let mut free_at = tokio::time::Instant::now();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if max_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(rng.below(max_delay_ms + 1))).await;
        }
        let bytes_per_second = rate.map_or(0, |r| r.load(Ordering::SeqCst));
        if bytes_per_second > 0 {
            let takes = Duration::from_secs_f64(n as f64 / bytes_per_second as f64);
            free_at = free_at.max(tokio::time::Instant::now()) + takes;
            tokio::time::sleep_until(free_at).await;
        }
        if let Some(c) = counted {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
        let before = passed.fetch_add(n as u64, Ordering::SeqCst);
        if before + n as u64 >= limit {
            // Forward only up to the cut, then stop mid-stream.
            let keep = usize::try_from(limit.saturating_sub(before))
                .unwrap_or(0)
                .min(n);
            let _ = to.write_all(&buf[..keep]).await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
