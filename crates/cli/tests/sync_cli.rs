//! The nurse's laptop and the approved server meet: the real `clinshare`
//! and `clinshare-server` binaries over real TLS on loopback. Enrolment
//! with the pin (a wrong pin is refused), the signed directory, a referral
//! blocked for want of consent and sent once consent is recorded, exactly
//! once.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PASS: &str = "correct horse battery staple";
const USER: &str = "Nurse Jackie";
const SERVER_PASSWORD: &str = "server password for Nurse Jackie";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn server_binary() -> Command {
    let path = target_dir().join("debug/clinshare-server");
    assert!(
        path.exists(),
        "{} missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    Command::new(path)
}

fn admin(data: &Path, args: &[&str]) -> String {
    let out = server_binary()
        .arg("--data-dir")
        .arg(data)
        .arg("admin")
        .args(args)
        .env("SRV_PW", SERVER_PASSWORD)
        .output()
        .expect("clinshare-server admin");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `serve` with its own generated certificate; its URL and key pin.
fn serve(data: &Path) -> (Server, String, String) {
    let mut child = server_binary()
        .arg("--data-dir")
        .arg(data)
        .args(["--json", "serve", "--listen", "127.0.0.1:0"])
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
    (Server(child), format!("https://{addr}"), pin)
}

fn clinshare(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(data)
        .args(["--user", USER])
        .args(args)
        .env("CLINSHARE_PASSPHRASE", PASS)
        .env("CLINSHARE_SERVER_PASSWORD", SERVER_PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run clinshare")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn enrol_then_a_referral_is_blocked_until_consent_and_then_delivered_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let laptop = dir.path().join("laptop");
    admin(
        &server_data,
        &["team", "add", "District Nurses", "--org", "NHS Lanarkshire"],
    );
    admin(
        &server_data,
        &[
            "team",
            "add",
            "Tissue Viability",
            "--org",
            "NHS Lanarkshire",
            "--accepts-referrals",
        ],
    );
    admin(
        &server_data,
        &[
            "user",
            "add",
            USER,
            "--team",
            "District Nurses",
            "--password-env",
            "SRV_PW",
        ],
    );
    let (_server, url, pin) = serve(&server_data);

    ok(&clinshare(&laptop, &["init"]));
    ok(&clinshare(
        &laptop,
        &[
            "patient",
            "add",
            "--nhs",
            "943 476 5919",
            "--family",
            "Doe",
            "--given",
            "Jane",
            "--dob",
            "1972-04-15",
        ],
    ));
    let photo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures/dn_Sony_Cybershot_5.jpg");
    ok(&clinshare(
        &laptop,
        &[
            "import",
            "--patient",
            "943 476 5919",
            photo.to_str().expect("path"),
        ],
    ));
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&clinshare(&laptop, &["--json", "media", "list"]))).expect("json");
    let media_id = listed["media"][0]["id"].as_str().expect("id").to_owned();

    // A wrong pin: refused before anything is sent; nothing is enrolled.
    let code = admin(&server_data, &["enrol-code"]);
    let wrong_pin = "0".repeat(64);
    let refused = clinshare(
        &laptop,
        &[
            "enrol",
            "--server",
            &url,
            "--code",
            code.trim(),
            "--pin",
            &wrong_pin,
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("did not present the key"),
        "{}",
        text(&refused.stderr)
    );
    let none = clinshare(&laptop, &["directory"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none.stderr).contains("not enrolled"),
        "{}",
        text(&none.stderr)
    );

    // The right pin.
    let enrolled = ok(&clinshare(
        &laptop,
        &[
            "enrol",
            "--server",
            &url,
            "--code",
            code.trim(),
            "--pin",
            &pin,
        ],
    ));
    assert!(enrolled.contains("Enrolled with"), "{enrolled}");
    let directory = ok(&clinshare(&laptop, &["directory", "--refresh"]));
    assert!(
        directory.contains("Tissue Viability (NHS Lanarkshire)"),
        "{directory}"
    );
    assert!(
        !directory.contains("District Nurses"),
        "teams not taking referrals are not offered: {directory}"
    );

    let created = ok(&clinshare(
        &laptop,
        &[
            "referral",
            "create",
            "--patient",
            "943 476 5919",
            "--to",
            "Tissue Viability",
            "--question",
            "Is this pressure ulcer improving?",
            "--media",
            &media_id,
        ],
    ));
    assert!(
        created.contains(
            "Send 1 photo of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?"
        ),
        "{created}"
    );

    // No consent yet: blocked, with the reason, nothing sent.
    let blocked = clinshare(&laptop, &["sync"]);
    assert_eq!(blocked.status.code(), Some(1), "{}", text(&blocked.stderr));
    assert!(
        text(&blocked.stdout).contains("No consent is recorded for this patient."),
        "{}",
        text(&blocked.stdout)
    );

    ok(&clinshare(
        &laptop,
        &[
            "consent",
            "record",
            "--patient",
            "943 476 5919",
            "--level",
            "care",
            "--given-by",
            "patient",
            "--method",
            "verbal",
            "--recipient",
            "Tissue Viability",
        ],
    ));
    let sent = ok(&clinshare(&laptop, &["sync"]));
    assert!(sent.contains("delivered"), "{sent}");
    let list = ok(&clinshare(&laptop, &["referral", "list"]));
    assert!(list.contains("delivered"), "{list}");

    // A second pass sends nothing again.
    let again = ok(&clinshare(&laptop, &["sync"]));
    assert!(!again.contains("delivered"), "{again}");
    let trail = ok(&clinshare(&laptop, &["audit", "verify"]));
    assert!(trail.to_lowercase().contains("intact"), "{trail}");
}
