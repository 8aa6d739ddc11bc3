//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temp dir
//! and `postgres` on a free loopback port, started once per test binary and
//! stopped (and its directory removed) by a watchdog when the test process
//! exits. Each test gets its own database.
//!
//! Binaries: `$CLINSHARE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package), else `PATH`. PostgreSQL refuses to run
//! as root; as root the cluster runs as the `postgres` user via `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CLINSHARE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn bin(dir: &Option<PathBuf>, name: &str) -> PathBuf {
    dir.as_ref()
        .map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `program args` as the cluster's user.
fn command(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn start() -> Result<Cluster, String> {
    let dir = bin_dir();
    let root = is_root();
    let base = std::env::temp_dir().join(format!("clinshare-pg-{}", std::process::id()));
    let data = base.join("data");
    std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    if root {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base)
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("chown to the postgres user failed".into());
        }
    }
    let out = command(root, &bin(&dir, "initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "clinshare",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()
        .map_err(|e| {
            format!("initdb not runnable ({e}); install PostgreSQL (Debian: postgresql)")
        })?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    // The watchdog runs as the cluster's user: it stops postgres and removes
    // the directory once the test process is gone.
    let script = format!(
        "{postgres} -D {data} -p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c max_connections=200 >{base}/log 2>&1 & pg=$!; \
         while [ -d /proc/{pid} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
         kill -INT $pg 2>/dev/null; wait $pg; rm -rf {base}",
        postgres = bin(&dir, "postgres").display(),
        data = data.display(),
        base = base.display(),
        pid = std::process::id(),
    );
    command(root, Path::new("sh"))
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Command::new(bin(&dir, "pg_isready"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "clinshare",
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ready {
            return Ok(Cluster { port });
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(base.join("log")).unwrap_or_default();
            return Err(format!("postgres did not start: {log}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(e) => panic!("cannot start a test PostgreSQL: {e}"),
    }
}

/// A fresh, empty database; returns its URL.
pub async fn new_database() -> String {
    let port = cluster().port;
    let admin_url = format!("postgres://clinshare@127.0.0.1:{port}/postgres");
    let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to test cluster");
    tokio::spawn(conn);
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).expect("random");
    let name = format!("t_{}", hex::encode(suffix));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    format!("postgres://clinshare@127.0.0.1:{port}/{name}")
}
