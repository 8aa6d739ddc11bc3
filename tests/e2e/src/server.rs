//! The real approved server (`clinshare-server`) on loopback TLS, with its
//! own data directory, for tests where the app enrols and sends.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::target_dir;

pub struct ApprovedServer {
    child: Child,
    data: PathBuf,
    /// https://127.0.0.1:PORT
    pub url: String,
    /// The SPKI SHA-256 pin the server printed, as an administrator would
    /// hand it to a nurse.
    pub pin: String,
}

fn binary() -> Command {
    let path = target_dir().join("debug/clinshare-server");
    assert!(
        path.exists(),
        "{} missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    Command::new(path)
}

/// Run `clinshare-server --data-dir DATA admin ARGS`; its stdout. Users
/// get the password in `password` (through `--password-env`).
pub fn admin(data: &Path, args: &[&str], password: &str) -> String {
    let out = binary()
        .arg("--data-dir")
        .arg(data)
        .arg("admin")
        .args(args)
        .env("CLINSHARE_TEST_PASSWORD", password)
        .output()
        .expect("clinshare-server admin");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Add a user in `team` whose password is `password`.
pub fn add_user(data: &Path, name: &str, team: &str, password: &str) {
    admin(
        data,
        &[
            "user",
            "add",
            name,
            "--team",
            team,
            "--password-env",
            "CLINSHARE_TEST_PASSWORD",
        ],
        password,
    );
}

impl ApprovedServer {
    /// A server for a district nursing team sending to Tissue Viability,
    /// both of NHS Lanarkshire, with `nurse` (password `password`) in the
    /// nursing team; served on a free loopback port.
    pub fn for_district_nurses(data: &Path, nurse: &str, password: &str) -> ApprovedServer {
        admin(
            data,
            &["team", "add", "District Nurses", "--org", "NHS Lanarkshire"],
            "",
        );
        admin(
            data,
            &[
                "team",
                "add",
                "Tissue Viability",
                "--org",
                "NHS Lanarkshire",
                "--accepts-referrals",
            ],
            "",
        );
        add_user(data, nurse, "District Nurses", password);
        Self::start(data)
    }

    /// Another server (its own data and key, the same teams and `nurse`)
    /// on `real`'s address, which must be stopped: what a laptop meets if
    /// someone else answers there.
    pub fn impostor(
        data: &Path,
        real: &ApprovedServer,
        nurse: &str,
        password: &str,
    ) -> ApprovedServer {
        let addr = real.url.trim_start_matches("https://").to_owned();
        let mut made = Self::for_district_nurses(data, nurse, password);
        made.stop();
        Self::start_at(data, &addr)
    }

    /// Serve `data` with its generated certificate on a free loopback port.
    pub fn start(data: &Path) -> ApprovedServer {
        Self::start_at(data, "127.0.0.1:0")
    }

    /// Stop serving (the data directory stays): the laptop is offline.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Serve again on the same address, with the same key.
    pub fn restart(&mut self) {
        self.stop();
        let addr = self.url.trim_start_matches("https://").to_owned();
        let data = self.data.clone();
        *self = Self::start_at(&data, &addr);
    }

    fn start_at(data: &Path, listen: &str) -> ApprovedServer {
        let mut child = binary()
            .arg("--data-dir")
            .arg(data)
            .args(["--json", "serve", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn clinshare-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        let ready: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        let addr = ready["listening"].as_str().expect("address");
        let pin = ready["spki_sha256_hex"].as_str().expect("pin");
        ApprovedServer {
            url: format!("https://{addr}"),
            pin: pin.to_owned(),
            data: data.to_owned(),
            child,
        }
    }

    /// A one-time enrolment code.
    pub fn enrol_code(&self) -> String {
        admin(&self.data, &["enrol-code"], "")
    }

    /// The verified photos the server holds (files named by their SHA-256
    /// in its blob folder): what actually reached it.
    pub fn stored_photos(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .stored_files()
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        found.sort();
        found
    }

    /// The verified files: `blobs/<referral>/<sha256>`.
    pub fn stored_files(&self) -> Vec<PathBuf> {
        let hex = |n: &str, len: usize| n.len() == len && n.bytes().all(|b| b.is_ascii_hexdigit());
        let mut found = Vec::new();
        for referral in std::fs::read_dir(self.data.join("blobs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = referral.file_name();
            if !name.to_str().is_some_and(|n| hex(n, 32)) {
                continue;
            }
            for file in std::fs::read_dir(referral.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if file.file_name().to_str().is_some_and(|n| hex(n, 64)) {
                    found.push(file.path());
                }
            }
        }
        found
    }
}

impl ApprovedServer {
    /// Every file under the server's blob folder, partial uploads included:
    /// empty when no byte of any photo reached it.
    pub fn files_received(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.data.join("blobs")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    found.push(p);
                }
            }
        }
        found
    }
}

impl Drop for ApprovedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
