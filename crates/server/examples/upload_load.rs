//! Load generator for `bench/server/run.sh`: N concurrent clients, each an
//! enrolled device over its own pinned TLS connection (keep-alive), sign in,
//! send one referral with one photo in 4 MiB chunks (as the app sends). Prints throughput and
//! latency figures as one JSON line.
//!
//! `upload_load ADDR PIN PHOTO CODES_FILE USER PASSWORD TEAM_ID`
//!
//! PHOTO `video:MB` sends instead a clean MP4 generated here whose media
//! data is MB megabytes (the same movie for every client, as with the
//! photo). `LOAD_TIMEOUT_SECONDS` (default 1800) bounds the timed phase.
//!
//! `upload_load --hostile ADDR PIN CODES_FILE USER PASSWORD TEAM_ID FILE...`
//! acts instead as a modified client for `bench/hostile/run.sh`: each FILE
//! is sent as it is, without the app's checks or stripping, and the
//! server's answer is reported (see `hostile`). `LOAD_TIMEOUT_SECONDS`
//! (default 300) bounds each file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clinshare_protocol::auth::{
    canonical_request, HEADER_CONTENT_SHA256, HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
};
use ed25519_dalek::{Signer, SigningKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

include!("../tests/support/mp4.rs");

/// The app's chunk size (`clinshare_core::sync`): a 4 MB photo in one request.
const CHUNK: usize = 4 * 1024 * 1024;

#[derive(Debug)]
struct Pin(String, Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        cert: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if clinshare_server::tls::spki_pin(cert).as_deref() == Some(self.0.as_str()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("pin mismatch".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

struct Conn {
    io: BufReader<TlsStream<TcpStream>>,
    key: SigningKey,
    device: String,
    token: Option<String>,
}

impl Conn {
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Value), Error> {
        let sha = hex::encode(Sha256::digest(body));
        self.request_hashed(method, path, body, &sha).await
    }

    /// The same, with the body's SHA-256 already known.
    async fn request_hashed(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        sha: &str,
    ) -> Result<(u16, Value), Error> {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        let mut n = [0u8; 16];
        getrandom::fill(&mut n).map_err(|e| e.to_string())?;
        let nonce = hex::encode(n);
        let sig = hex::encode(
            self.key
                .sign(canonical_request(method, path, ts, &nonce, sha).as_bytes())
                .to_bytes(),
        );
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nContent-Type: application/json\r\n{HEADER_DEVICE}: {}\r\n{HEADER_TIMESTAMP}: {ts}\r\n{HEADER_NONCE}: {nonce}\r\n{HEADER_CONTENT_SHA256}: {sha}\r\n{HEADER_SIGNATURE}: {sig}\r\n",
            body.len(),
            self.device
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let io = self.io.get_mut();
        io.write_all(head.as_bytes()).await?;
        io.write_all(body).await?;
        io.flush().await?;
        read_response(&mut self.io).await
    }
}

async fn read_response(io: &mut BufReader<TlsStream<TcpStream>>) -> Result<(u16, Value), Error> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let b = io.read_u8().await?;
        head.push(b);
    }
    let text = String::from_utf8_lossy(&head);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status")?;
    let len: usize = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn connect(addr: SocketAddr, pin: &str) -> Result<BufReader<TlsStream<TcpStream>>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pin(pin.to_owned(), provider)))
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    Ok(BufReader::new(tls))
}

struct Args {
    addr: SocketAddr,
    pin: String,
    photo: Arc<Vec<u8>>,
    /// The manifest's format for it: `jpeg` or `mp4`.
    format: &'static str,
    /// The photo's SHA-256 and each chunk's, computed once: every client
    /// sends the same photo, and on real laptops this hashing is theirs,
    /// not the server's cores' (hashed per client, it took ~1 s of the
    /// 2 cores' time at 200 clients).
    photo_sha: String,
    chunk_shas: Vec<String>,
    user: String,
    password: String,
    team: String,
}

/// Enrol and sign in (not timed), then wait for the start signal.
async fn prepare(a: Arc<Args>, code: String) -> Result<Conn, Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
    let key = SigningKey::from_bytes(&seed);
    let mut conn = Conn {
        io: connect(a.addr, &a.pin).await?,
        key,
        device: String::new(),
        token: None,
    };
    // Enrolment is unsigned; send it as a plain JSON request.
    let body = json!({"protocol_version": 1, "code": code, "device_public_key": hex::encode(conn.key.verifying_key().to_bytes()), "device_name": "bench"}).to_string();
    let head = format!(
        "POST /v1/enrol HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.io.get_mut().write_all(head.as_bytes()).await?;
    conn.io.get_mut().write_all(body.as_bytes()).await?;
    let (s, v) = read_response(&mut conn.io).await?;
    if s != 201 {
        return Err(format!("enrol {s} {v}").into());
    }
    conn.device = v["device_id"].as_str().ok_or("device id")?.to_owned();
    let (s, v) = conn
        .request(
            "POST",
            "/v1/session",
            json!({"username": a.user, "password": a.password})
                .to_string()
                .as_bytes(),
        )
        .await?;
    if s != 200 {
        return Err(format!("sign in {s} {v}").into());
    }
    conn.token = Some(v["token"].as_str().ok_or("token")?.to_owned());
    Ok(conn)
}

/// The server's last answer to one referral: the manifest's refusal, or
/// the answer to the chunk that ended the upload (a refusal, or the last
/// chunk's, which carries the receipt when the file was accepted).
struct Answer {
    /// `manifest` or `chunk`.
    stage: &'static str,
    status: u16,
    body: Value,
    /// From the manifest's request to the answer.
    since_manifest: Duration,
    /// From the first chunk's request to the answer (none if the manifest
    /// was refused).
    since_first_chunk: Option<Duration>,
}

/// Send one referral carrying `a.photo`, stopping at the first refusal.
async fn upload(a: &Args, conn: &mut Conn, n: usize) -> Result<Answer, Error> {
    let started = Instant::now();
    let sha = &a.photo_sha;
    let manifest = json!({
        "protocol_version": 1,
        "idempotency_key": format!("bench-{n:06}-{}", &conn.device[..8]),
        "patient": {"kind": "nhs", "value": "9434765919"},
        "recipient_team": a.team,
        "consent": {"level": "care", "given_by": "patient", "recorded_by": "bench", "recorded_at": "2026-01-01T00:00:00Z", "recipient_team": a.team, "withdrawn": false},
        "clinical_question": "Benchmark referral.",
        "urgency": "routine",
        "media": [{"sha256": sha, "size": a.photo.len(), "format": a.format}],
    });
    let (status, body) = conn
        .request("POST", "/v1/referrals", manifest.to_string().as_bytes())
        .await?;
    if status != 201 && status != 200 {
        return Ok(Answer {
            stage: "manifest",
            status,
            body,
            since_manifest: started.elapsed(),
            since_first_chunk: None,
        });
    }
    let id = body["referral_id"].as_str().ok_or("id")?.to_owned();
    let first_chunk = Instant::now();
    let mut offset = 0;
    loop {
        let end = (offset + CHUNK).min(a.photo.len());
        let path = format!("/v1/referrals/{id}/media/{sha}?offset={offset}");
        // Offsets are whole chunks unless the server says otherwise.
        let (status, body) = match a.chunk_shas.get(offset / CHUNK) {
            Some(chunk_sha) if offset % CHUNK == 0 => {
                conn.request_hashed("PUT", &path, &a.photo[offset..end], chunk_sha)
                    .await?
            }
            _ => conn.request("PUT", &path, &a.photo[offset..end]).await?,
        };
        let next = body["upload"]["offset"].as_u64();
        let done = status != 200 || next.is_none_or(|o| o as usize >= a.photo.len());
        if done {
            return Ok(Answer {
                stage: "chunk",
                status,
                body,
                since_manifest: started.elapsed(),
                since_first_chunk: Some(first_chunk.elapsed()),
            });
        }
        offset = next.unwrap_or_default() as usize;
    }
}

/// One referral, timed from manifest to receipt.
async fn send_one(a: Arc<Args>, mut conn: Conn, n: usize) -> Result<Duration, Error> {
    let r = upload(&a, &mut conn, n).await?;
    if r.status != 201 && r.status != 200 {
        return Err(format!("{} {} {}", r.stage, r.status, r.body).into());
    }
    if r.body["receipt"].is_null() {
        return Err("no receipt".into());
    }
    Ok(r.since_manifest)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--hostile") {
        return hostile(&argv[2..]).await;
    }
    if argv.len() != 8 {
        return Err("usage: upload_load ADDR PIN PHOTO CODES_FILE USER PASSWORD TEAM_ID".into());
    }
    let codes: Vec<String> = std::fs::read_to_string(&argv[4])?
        .lines()
        .map(str::to_owned)
        .collect();
    let (photo, format) = match argv[3].strip_prefix("video:") {
        Some(mb) => (synthetic_video(mb.parse()?)?, "mp4"),
        // Stripped as the app would before sending.
        None => (
            clinshare_media::sanitise(
                &std::fs::read(&argv[3])?,
                &clinshare_media::Limits::default(),
            )?
            .bytes,
            "jpeg",
        ),
    };
    let args = Arc::new(Args {
        addr: argv[1].parse()?,
        pin: argv[2].clone(),
        photo_sha: hex::encode(Sha256::digest(&photo)),
        chunk_shas: photo
            .chunks(CHUNK)
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect(),
        photo: Arc::new(photo),
        format,
        user: argv[5].clone(),
        password: argv[6].clone(),
        team: argv[7].clone(),
    });
    let clients = codes.len();
    let prepared = futures_join(
        codes
            .into_iter()
            .map(|c| tokio::spawn(prepare(Arc::clone(&args), c)))
            .collect(),
    )
    .await?;
    if std::env::var_os("LOAD_PREPARE_ONLY").is_some() {
        // For measuring the enrolment and sign-in phase alone.
        println!("{}", json!({"prepared": prepared.len()}));
        return Ok(());
    }
    let cpu0 = (cpu_seconds("self"), server_cpu_seconds());
    let started = Instant::now();
    let handles = prepared
        .into_iter()
        .enumerate()
        .map(|(n, conn)| tokio::spawn(send_one(Arc::clone(&args), conn, n)))
        .collect();
    let limit = std::env::var("LOAD_TIMEOUT_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1800);
    let mut latencies = tokio::time::timeout(Duration::from_secs(limit), futures_join(handles))
        .await
        .map_err(|_| format!("the uploads took more than {limit} s"))??;
    let wall = started.elapsed();
    let cpu = (cpu_seconds("self"), server_cpu_seconds());
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    let bytes = (clients * args.photo.len()) as f64;
    println!(
        "{}",
        json!({
            "clients": clients,
            "photo_bytes": args.photo.len(),
            "format": args.format,
            "wall_seconds": wall.as_secs_f64(),
            "throughput_mb_per_s": bytes / 1e6 / wall.as_secs_f64(),
            "latency_ms_p50": pct(0.50),
            "latency_ms_p99": pct(0.99),
            "latency_ms_max": pct(1.0),
            // CPU seconds used during the timed phase, from /proc.
            "load_cpu_seconds": cpu.0.zip(cpu0.0).map(|(b, a)| b - a),
            "server_cpu_seconds": cpu.1.zip(cpu0.1).map(|(b, a)| b - a),
        })
    );
    Ok(())
}

/// `--hostile`: as a modified client that skips the app's checks, send each
/// FILE unchanged (format from its extension) as the single photo of its
/// own referral, each from its own enrolled device (one code per file), in
/// 4 MiB chunks. One JSON line per file: the server's answer (HTTP status,
/// body code, the verifier's code when it refused the file), seconds from
/// the first chunk to that answer, and the server's VmHWM (`SERVER_PID`)
/// just before the manifest and after the answer.
async fn hostile(argv: &[String]) -> Result<(), Error> {
    let [addr, pin, codes, user, password, team, files @ ..] = argv else {
        return Err(
            "usage: upload_load --hostile ADDR PIN CODES_FILE USER PASSWORD TEAM_ID FILE...".into(),
        );
    };
    let codes: Vec<String> = std::fs::read_to_string(codes)?
        .lines()
        .map(str::to_owned)
        .collect();
    if files.is_empty() || codes.len() < files.len() {
        return Err("one enrolment code per file is needed".into());
    }
    let limit = std::env::var("LOAD_TIMEOUT_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for (n, (file, code)) in files.iter().zip(codes).enumerate() {
        let photo = std::fs::read(file)?;
        let format = format_of(file).ok_or_else(|| format!("{file}: unknown extension"))?;
        let args = Args {
            addr: addr.parse()?,
            pin: pin.clone(),
            photo_sha: hex::encode(Sha256::digest(&photo)),
            chunk_shas: photo
                .chunks(CHUNK)
                .map(|c| hex::encode(Sha256::digest(c)))
                .collect(),
            photo: Arc::new(photo),
            format,
            user: user.clone(),
            password: password.clone(),
            team: team.clone(),
        };
        let args = Arc::new(args);
        let mut conn = prepare(Arc::clone(&args), code).await?;
        let before = server_vmhwm_kib();
        let answer =
            tokio::time::timeout(Duration::from_secs(limit), upload(&args, &mut conn, n)).await;
        let after = server_vmhwm_kib();
        let mut line = json!({
            "file": file,
            "bytes": args.photo.len(),
            "format": format,
            "server_vmhwm_kib_before": before,
            "server_vmhwm_kib_after": after,
        });
        match answer {
            Ok(Ok(a)) => {
                let message = a.body["message"].as_str().unwrap_or_default();
                // `upload.media_rejected` names the verifier's code in its sentence.
                let media_code = message
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .find(|w| w.starts_with("media."))
                    .map(|w| w.trim_end_matches('.'));
                line["stage"] = json!(a.stage);
                line["status"] = json!(a.status);
                line["code"] = a.body["code"].clone();
                line["media_code"] = json!(media_code);
                line["accepted"] = json!(a.status == 200 && !a.body["receipt"].is_null());
                line["seconds"] = json!(a
                    .since_first_chunk
                    .unwrap_or(a.since_manifest)
                    .as_secs_f64());
            }
            // The connection failed (the server closed it, or died).
            Ok(Err(e)) => line["error"] = json!(e.to_string()),
            Err(_) => line["error"] = json!(format!("no answer within {limit} s")),
        }
        println!("{line}");
    }
    Ok(())
}

/// The manifest's format for a file, from its extension.
fn format_of(file: &str) -> Option<&'static str> {
    let ext = std::path::Path::new(file)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "jpeg",
        "png" => "png",
        "webp" => "webp",
        "heic" => "heic",
        "heif" => "heif",
        "avif" => "avif",
        "tif" | "tiff" => "tiff",
        "mp4" | "m4v" => "mp4",
        "mov" => "mov",
        _ => return None,
    })
}

/// The server's peak resident memory so far (`VmHWM`, KiB), when the
/// script names its process (`SERVER_PID`).
fn server_vmhwm_kib() -> Option<u64> {
    let pid = std::env::var("SERVER_PID").ok()?;
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A clean movie (what the app's sanitiser leaves) with `mb` MB of media
/// data, checked here as the server will check it.
fn synthetic_video(mb: u64) -> Result<Vec<u8>, Error> {
    let movie = mp4_movie(usize::try_from(mb * 1_000_000)?, &[], 0x5eed);
    clinshare_media::verify_structure(&movie, clinshare_media::Format::Mp4)?;
    Ok(movie)
}

/// User + system CPU seconds of a process (`self` or a pid) from
/// /proc/PID/stat; `CLK_TCK` (default 100) gives the tick length.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz: f64 = std::env::var("CLK_TCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0);
    Some(ticks / hz)
}

/// The server's CPU seconds, when the script names its process (`SERVER_PID`).
fn server_cpu_seconds() -> Option<f64> {
    cpu_seconds(&std::env::var("SERVER_PID").ok()?)
}

async fn futures_join<T>(
    handles: Vec<tokio::task::JoinHandle<Result<T, Error>>>,
) -> Result<Vec<T>, Error> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}
