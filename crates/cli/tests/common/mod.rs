//! The harness shared by the tests that run the real `clinshare` and
//! `clinshare-server` binaries over TLS on loopback: an approved server with
//! two teams, laptops enrolled with it, distinct photos, and looks at what
//! the server holds.
#![allow(dead_code)] // each test file uses part of it

pub mod photos;
pub mod proxy;
pub mod server_db;

pub use server_db::server_referrals;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const PASS: &str = "correct horse battery staple";
pub const NURSE: &str = "Nurse Jackie";
pub const NURSE_SERVER_PASSWORD: &str = "server password for Nurse Jackie";
pub const DOCTOR: &str = "Dr Ada Lovelace";
pub const DOCTOR_SERVER_PASSWORD: &str = "server password for Dr Lovelace";
pub const NHS: &str = "943 476 5919";
pub const TEAM: &str = "Tissue Viability";

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

pub fn server_binary() -> Command {
    let path = target_dir().join("debug/clinshare-server");
    assert!(
        path.exists(),
        "{} missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    Command::new(path)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn admin(data: &Path, args: &[&str]) -> String {
    let out = server_binary()
        .arg("--data-dir")
        .arg(data)
        .arg("admin")
        .args(args)
        .env("SRV_PW", NURSE_SERVER_PASSWORD)
        .env("DOC_PW", DOCTOR_SERVER_PASSWORD)
        .output()
        .expect("clinshare-server admin");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A running `clinshare-server serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub pin: String,
    pub addr: String,
}

impl Server {
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start `serve` on `listen` (`127.0.0.1:0` for any free port) with the
/// data directory's own certificate.
pub fn serve_on(data: &Path, listen: &str) -> Server {
    serve_with(data, &["--listen", listen])
}

/// Start `serve` with these options (`--listen` among them).
pub fn serve_with(data: &Path, options: &[&str]) -> Server {
    let mut child = server_binary()
        .arg("--data-dir")
        .arg(data)
        .args(["--json", "serve"])
        .args(options)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("json");
    let addr = ready["listening"].as_str().expect("address").to_owned();
    let pin = ready["spki_sha256_hex"].as_str().expect("pin").to_owned();
    Server {
        child,
        url: format!("https://{addr}"),
        pin,
        addr,
    }
}

pub fn serve(data: &Path) -> Server {
    serve_on(data, "127.0.0.1:0")
}

/// District Nurses (the nurse's team) and Tissue Viability (takes
/// referrals; the doctor's team).
pub fn set_up_server(data: &Path) {
    admin(
        data,
        &["team", "add", "District Nurses", "--org", "NHS Lanarkshire"],
    );
    admin(
        data,
        &[
            "team",
            "add",
            TEAM,
            "--org",
            "NHS Lanarkshire",
            "--accepts-referrals",
        ],
    );
    admin(
        data,
        &[
            "user",
            "add",
            NURSE,
            "--team",
            "District Nurses",
            "--password-env",
            "SRV_PW",
        ],
    );
    admin(
        data,
        &[
            "user",
            "add",
            DOCTOR,
            "--team",
            TEAM,
            "--password-env",
            "DOC_PW",
        ],
    );
}

/// One clinician's laptop: a data directory and who acts on it.
pub struct Laptop {
    pub data: PathBuf,
    pub user: &'static str,
    pub server_password: &'static str,
}

impl Laptop {
    pub fn nurse(data: PathBuf) -> Self {
        Laptop {
            data,
            user: NURSE,
            server_password: NURSE_SERVER_PASSWORD,
        }
    }

    pub fn doctor(data: PathBuf) -> Self {
        Laptop {
            data,
            user: DOCTOR,
            server_password: DOCTOR_SERVER_PASSWORD,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clinshare"));
        c.arg("--data-dir")
            .arg(&self.data)
            .args(["--user", self.user])
            .args(args)
            .env("CLINSHARE_PASSPHRASE", PASS)
            .env("CLINSHARE_SERVER_PASSWORD", self.server_password)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run clinshare")
    }

    /// Run and require success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("json output")
    }

    /// `init`, then enrolment with a fresh code and a directory refresh.
    pub fn init_and_enrol(&self, server_data: &Path, server: &Server) {
        self.ok(&["init"]);
        self.enrol(server_data, &server.url, &server.pin);
    }

    pub fn enrol(&self, server_data: &Path, url: &str, pin: &str) {
        let code = admin(server_data, &["enrol-code"]);
        self.ok(&[
            "enrol",
            "--server",
            url,
            "--code",
            code.trim(),
            "--pin",
            pin,
        ]);
        self.ok(&["directory", "--refresh"]);
    }

    /// Jane Doe, and her consent to share with Tissue Viability for care.
    pub fn add_patient_with_consent(&self) {
        self.add_patient();
        self.record_consent();
    }

    pub fn add_patient(&self) {
        self.ok(&[
            "patient",
            "add",
            "--nhs",
            NHS,
            "--family",
            "Doe",
            "--given",
            "Jane",
            "--dob",
            "1972-04-15",
        ]);
    }

    /// Records a care consent for Tissue Viability; its id.
    pub fn record_consent(&self) -> i64 {
        let v = self.json(&[
            "consent",
            "record",
            "--patient",
            NHS,
            "--level",
            "care",
            "--given-by",
            "patient",
            "--method",
            "verbal",
            "--recipient",
            TEAM,
        ]);
        v["consent"]["id"].as_i64().expect("consent id")
    }

    /// Import files for Jane Doe; the media ids with their SHA-256.
    pub fn import(&self, paths: &[PathBuf]) -> Vec<(String, String)> {
        let mut args = vec!["import", "--patient", NHS];
        let owned: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(owned.iter().map(String::as_str));
        self.ok(&args);
        self.media()
    }

    /// Every photo in the store, in import order, with its SHA-256.
    pub fn media(&self) -> Vec<(String, String)> {
        let store = self.store();
        let mut stmt = store
            .conn()
            .prepare("SELECT id, sha256 FROM media ORDER BY rowid")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows
    }

    /// Create and queue a referral of `media` to Tissue Viability; its id.
    pub fn refer(&self, media: &[&str]) -> String {
        let mut args = vec![
            "referral",
            "create",
            "--patient",
            NHS,
            "--to",
            TEAM,
            "--question",
            "Is this pressure ulcer improving?",
            "--media",
        ];
        args.extend_from_slice(media);
        let v = self.json(&args);
        v["referral"]["id"]
            .as_str()
            .expect("referral id")
            .to_owned()
    }

    pub fn referrals(&self) -> Vec<serde_json::Value> {
        self.json(&["referral", "list"])["referrals"]
            .as_array()
            .expect("referrals")
            .clone()
    }

    /// The store, opened in this process with the key from the keyring.
    pub fn store(&self) -> clinshare_core::Store {
        clinshare_core::Store::open(&self.data, &clinshare_core::OsKeyring::new()).expect("store")
    }
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures")
        .join(name)
}

/// `n` distinct small JPEGs in `dir` (see [`photos::distinct_copies`]).
pub fn distinct_jpegs(dir: &Path, n: usize) -> Vec<PathBuf> {
    photos::distinct_copies(&fixture("dn_Sony_Cybershot_5.jpg"), dir, n)
}

/// The server's stored copy of the file with this SHA-256 (under
/// `blobs/<referral>/`); every copy of it there is the same bytes.
pub fn server_blob(server_data: &Path, sha: &str) -> Vec<u8> {
    let copies: Vec<Vec<u8>> = server_blob_files(server_data)
        .into_iter()
        .filter(|p| !is_partial_upload(p) && p.file_name().is_some_and(|n| n == sha))
        .map(|p| std::fs::read(p).expect("read blob"))
        .collect();
    assert!(!copies.is_empty(), "no stored copy of {sha}");
    assert!(
        copies.iter().all(|c| c == &copies[0]),
        "copies of {sha} differ"
    );
    copies.into_iter().next().unwrap_or_default()
}

/// A file of an upload the server has not finished (under `blobs/partial`).
pub fn is_partial_upload(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "partial")
}

/// Every file under the server's blob folder (complete and partial).
pub fn server_blob_files(server_data: &Path) -> Vec<PathBuf> {
    clinshare_test_support::files_under(&server_data.join("blobs"))
}

/// Nothing of any referral reached this server: no file, no referral row.
pub fn assert_server_holds_nothing(server_data: &Path) {
    assert_eq!(server_blob_files(server_data), Vec::<PathBuf>::new());
    assert_eq!(server_referrals(server_data), Vec::new());
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Create and queue one referral per photo in this process (through the
/// core API: one sign-in instead of one per referral); their ids.
pub fn queue_one_referral_per_photo(laptop: &Laptop, media: &[(String, String)]) -> Vec<String> {
    use clinshare_core::referrals::{self, NewReferral};
    let mut store = laptop.store();
    let actor = clinshare_core::session::sign_in(&mut store, laptop.user, PASS).expect("sign in");
    let team = clinshare_core::directory::current(&store)
        .expect("directory")
        .recipients()
        .into_iter()
        .find(|r| r.name == TEAM)
        .expect("team")
        .team_id;
    let patient = clinshare_core::patients::resolve(&store, NHS)
        .expect("patient")
        .id;
    media
        .iter()
        .map(|(id, _)| {
            let draft = referrals::create_draft(
                &mut store,
                &actor,
                NewReferral {
                    patient_id: patient,
                    team_id: team.clone(),
                    clinical_question: "Is this healing?".into(),
                    urgency: clinshare_protocol::referral::Urgency::Routine,
                    media_ids: vec![id.clone()],
                },
            )
            .expect("draft");
            referrals::queue(&mut store, &actor, &draft.id)
                .expect("queue")
                .id
        })
        .collect()
}

/// Every referral reached the server exactly once, complete: as many
/// delivered referrals on the server as sent, each photo's file there
/// byte-identical (by SHA-256) and no partial upload left behind.
pub fn assert_delivered_exactly_once(
    laptop: &Laptop,
    server_data: &Path,
    media: &[(String, String)],
) {
    let outbox = laptop.referrals();
    assert!(
        outbox.iter().all(|r| r["state"] == "delivered"),
        "{:?}",
        outbox
            .iter()
            .filter(|r| r["state"] != "delivered")
            .map(|r| (r["state"].clone(), r["blocked"].clone()))
            .collect::<Vec<_>>()
    );
    let on_server = server_referrals(server_data);
    assert_eq!(on_server.len(), outbox.len(), "exactly once on the server");
    assert!(
        on_server.iter().all(|(_, s)| s == "delivered"),
        "{on_server:?}"
    );
    for (_, sha) in media {
        let bytes = server_blob(server_data, sha);
        assert_eq!(&sha256_hex(&bytes), sha);
    }
    let partial: Vec<_> = server_blob_files(server_data)
        .into_iter()
        .filter(|p| is_partial_upload(p))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
}
