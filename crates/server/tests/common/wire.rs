//! A minimal HTTP/1.1 client over a plain socket, for tests that run the
//! real `clinshare-server` binary (with `--insecure-http-behind-proxy`;
//! TLS itself is tested in `tls.rs`). One request per connection.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_clinshare-server"))
}

/// Runs an admin command; returns (exit status, stdout, stderr).
pub fn admin(data_dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    admin_with(data_dir, &[], args)
}

/// The same, with global options (`--database URL`).
pub fn admin_with(
    data_dir: &std::path::Path,
    global: &[&str],
    args: &[&str],
) -> (i32, String, String) {
    let out = binary()
        .arg("--data-dir")
        .arg(data_dir)
        .args(global)
        .arg("admin")
        .args(args)
        .env("TEST_PASSWORD", super::PASSWORD)
        .output()
        .expect("run clinshare-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// By the admin commands (with `global` options such as `--database`):
/// teams "District Nurses" and "Tissue Viability" (which takes referrals)
/// of CHP, alice a district nurse and bob in Tissue Viability.
pub fn admin_two_teams(data_dir: &std::path::Path, global: &[&str]) {
    for args in [
        &["team", "add", "District Nurses", "--org", "CHP"][..],
        &[
            "team",
            "add",
            "Tissue Viability",
            "--org",
            "CHP",
            "--accepts-referrals",
        ],
        &[
            "user",
            "add",
            "alice",
            "--team",
            "District Nurses",
            "--password-env",
            "TEST_PASSWORD",
        ],
        &[
            "user",
            "add",
            "bob",
            "--team",
            "Tissue Viability",
            "--password-env",
            "TEST_PASSWORD",
        ],
    ] {
        let (code, _, err) = admin_with(data_dir, global, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
}

/// Starts `serve` on a free port with plain HTTP; returns the child and the
/// address it printed.
pub fn serve_plain(data_dir: &std::path::Path, log: &std::path::Path) -> (Child, SocketAddr) {
    serve_plain_with(data_dir, log, &[], &[])
}

/// The same, with global options (`--database`, `--blob-store`) and
/// environment variables.
pub fn serve_plain_with(
    data_dir: &std::path::Path,
    log: &std::path::Path,
    global: &[&str],
    env: &[(&str, &str)],
) -> (Child, SocketAddr) {
    let log_file = std::fs::File::create(log).expect("log file");
    let mut child = binary()
        .arg("--data-dir")
        .arg(data_dir)
        .args(global)
        .envs(env.iter().copied())
        .arg("--json")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http-behind-proxy",
        ])
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("read ready line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("ready json");
    let addr = v["listening"]
        .as_str()
        .expect("addr")
        .parse()
        .expect("addr");
    (child, addr)
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    /// Sends the head of `req` and half its body to the server at `addr`,
    /// lets the server take them in, then kills it (SIGKILL): a crash in
    /// the middle of an upload.
    pub async fn kill_mid_request(&mut self, addr: SocketAddr, req: Request<Body>) {
        let (head, body) = head_and_body(req).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&head).await.expect("write");
        stream
            .write_all(&body[..body.len() / 2])
            .await
            .expect("write");
        stream.flush().await.expect("flush");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        self.0.kill().expect("SIGKILL");
        let _ = self.0.wait();
    }
}

pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The request line and headers of `req`, with its length.
pub async fn head_and_body(req: Request<Body>) -> (Vec<u8>, Vec<u8>) {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        parts.method,
        parts.uri,
        body.len()
    );
    for (name, value) in &parts.headers {
        head.push_str(&format!(
            "{}: {}\r\n",
            name,
            value.to_str().expect("header")
        ));
    }
    head.push_str("\r\n");
    (head.into_bytes(), body)
}

pub async fn send(addr: SocketAddr, req: Request<Body>) -> WireResponse {
    let (head, body) = head_and_body(req).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&head).await.expect("write");
    s.write_all(&body).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    parse(&raw)
}

fn parse(raw: &[u8]) -> WireResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    WireResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&b[start..start + size]);
        b = &b[start + size + 2..];
    }
}
