//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use crate::blobs::BlobStore;
use crate::keys::ServerKeys;
use crate::pacs::PacsConfig;
use crate::ratelimit::RateLimiter;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct Config {
    /// Lifetime of a sign-in token.
    pub token_ttl_secs: i64,
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// Whole-request timeout (a chunk upload must finish within it).
    pub request_timeout: Duration,
    /// Largest JSON body.
    pub max_json_bytes: usize,
    /// Upload chunks untouched for this long are deleted by the sweeper.
    pub abandoned_uploads_after: Duration,
    /// A chunk whose body sends nothing for this long is stopped, so a
    /// stalled connection gives back its upload buffer before the whole
    /// request's timeout.
    pub upload_idle_timeout: Duration,
    /// At least this much of a chunk's body must arrive in each
    /// `upload_idle_timeout`, or it is stopped the same way: a sender
    /// trickling a byte at a time would otherwise hold its buffer until the
    /// whole-request timeout. 64 KiB per 30 s is the pace at which the
    /// app's smallest chunk (256 KiB) still fits that timeout.
    pub upload_min_bytes_per_window: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_ttl_secs: 8 * 3600,
            rate_per_second: 50,
            rate_burst: 200,
            request_timeout: Duration::from_secs(120),
            max_json_bytes: 256 * 1024,
            abandoned_uploads_after: crate::blobs::ABANDONED_AFTER,
            upload_idle_timeout: Duration::from_secs(30),
            upload_min_bytes_per_window: 64 * 1024,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<BlobStore>,
    pub keys: Arc<ServerKeys>,
    pub config: Arc<Config>,
    pub limiter: Arc<RateLimiter>,
    /// Argon2id takes ~19 MiB per check: at most one per core at a time, so
    /// a burst of sign-ins cannot exhaust memory.
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Reused Argon2 working memory (see `session::password_matches`).
    pub password_memory: Arc<std::sync::Mutex<Vec<Vec<argon2::Block>>>>,
    /// PACS filing, when configured ([`AppState::with_pacs`]).
    pub pacs: Option<Arc<PacsConfig>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, blobs: BlobStore, keys: ServerKeys, config: Config) -> Self {
        let limiter = RateLimiter::new(config.rate_per_second, config.rate_burst);
        AppState {
            store,
            blobs: Arc::new(blobs),
            keys: Arc::new(keys),
            config: Arc::new(config),
            limiter: Arc::new(limiter),
            password_checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            password_memory: Arc::new(std::sync::Mutex::new(Vec::new())),
            pacs: None,
        }
    }

    pub fn with_pacs(mut self, config: Option<PacsConfig>) -> Self {
        self.pacs = config.map(Arc::new);
        self
    }

    /// The targets a delivered referral is queued for.
    pub fn pacs_targets(&self) -> Vec<String> {
        self.pacs
            .as_ref()
            .map(|c| c.target_names())
            .unwrap_or_default()
    }
}
