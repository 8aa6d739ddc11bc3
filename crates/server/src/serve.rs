//! Running the server: state from the data directory, TLS (or plain HTTP
//! behind a proxy, only when asked), graceful shutdown on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::admin::{open_sqlite, open_store};
use crate::blobs::BlobStore;
use crate::keys::ServerKeys;
use crate::state::{AppState, Config};
use crate::store::Store;
use crate::tls::TlsMaterial;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server stopped with an error: {0}")]
    Run(std::io::Error),
}

pub enum Transport {
    /// TLS with the configured pair, or the generated one in the data dir.
    Tls { cert: Option<(PathBuf, PathBuf)> },
    /// Plain HTTP, for running behind a TLS-terminating proxy only.
    InsecureHttpBehindProxy,
}

pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// PostgreSQL URL (scale-out mode); `None` for the embedded store.
    pub database: Option<String>,
    /// Object store URL for media (`file:///PATH`, `s3://BUCKET/PREFIX`);
    /// `None` for the folder `DIR/blobs`.
    pub blob_store: Option<String>,
    pub listen: SocketAddr,
    pub transport: Transport,
    pub config: Config,
    /// PACS filing configuration; `None` looks for `DIR/pacs.json`.
    pub pacs_config: Option<PathBuf>,
}

/// The state for a data directory with the embedded backend.
pub fn embedded_state(data_dir: &Path, config: Config) -> Result<AppState, ServeError> {
    let store = open_sqlite(data_dir).map_err(|e| ServeError::Setup(e.to_string()))?;
    state_with_store(data_dir, store, None, config)
}

/// The state for a data directory (keys), a database and a blob store
/// (`None`: the folder `DIR/blobs`).
pub fn state_with_store(
    data_dir: &Path,
    store: Arc<dyn Store>,
    blob_store: Option<&str>,
    config: Config,
) -> Result<AppState, ServeError> {
    let blobs =
        BlobStore::open(data_dir, blob_store).map_err(|e| ServeError::Setup(e.to_string()))?;
    let keys =
        ServerKeys::load_or_create(data_dir).map_err(|e| ServeError::Setup(e.to_string()))?;
    Ok(AppState::new(store, blobs, keys, config))
}

/// Serves until Ctrl-C or SIGTERM, then lets requests in flight finish
/// (up to 30 s). `on_ready` gets the bound address and the TLS pin.
pub async fn run(
    opts: ServeOptions,
    on_ready: impl FnOnce(SocketAddr, Option<&str>),
) -> Result<(), ServeError> {
    let store = open_store(&opts.data_dir, opts.database.as_deref())
        .await
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let pacs = crate::pacs::PacsConfig::load(&opts.data_dir, opts.pacs_config.as_deref())
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let state = state_with_store(
        &opts.data_dir,
        store,
        opts.blob_store.as_deref(),
        opts.config,
    )?
    .with_pacs(pacs);
    // Filing runs beside the requests; it stops with the process (a job cut
    // off mid-way keeps its lease and runs again after it).
    let _forwarder = crate::pacs::forwarder::spawn(state.clone())
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let _sweeper = crate::blobs::spawn_sweeper(
        std::sync::Arc::clone(&state.blobs),
        state.config.abandoned_uploads_after,
    );
    let app = crate::app(state);
    let listener =
        std::net::TcpListener::bind(opts.listen).map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Setup(e.to_string()))?;
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    match opts.transport {
        Transport::Tls { cert } => {
            let material = TlsMaterial::load(
                &opts.data_dir,
                cert.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            )
            .map_err(|e| ServeError::Setup(e.to_string()))?;
            let config = material
                .server_config()
                .map_err(|e| ServeError::Setup(e.to_string()))?;
            on_ready(addr, Some(&material.pin));
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(config);
            let mut server = axum_server::from_tcp_rustls(listener, rustls).handle(handle);
            limit_read_buffer(server.http_builder());
            server
                .serve(app.into_make_service())
                .await
                .map_err(ServeError::Run)
        }
        Transport::InsecureHttpBehindProxy => {
            on_ready(addr, None);
            let mut server = axum_server::from_tcp(listener).handle(handle);
            limit_read_buffer(server.http_builder());
            server
                .serve(app.into_make_service())
                .await
                .map_err(ServeError::Run)
        }
    }
}

/// hyper buffers up to ~400 KB per connection by default; uploads stream,
/// so a small buffer keeps memory per connection low.
fn limit_read_buffer(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    builder.http1().max_buf_size(64 * 1024);
}

async fn shutdown_on_signal(handle: axum_server::Handle) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(Duration::from_secs(30)));
}
