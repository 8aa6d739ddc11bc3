//! A real Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) for the PACS
//! tests: its own JSON configuration and storage in a temp dir, HTTP on a
//! free loopback port with basic authentication, no DICOM listener.
//! Killed when dropped. A missing binary is a test failure, never a skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const USER: &str = "pacs";
pub const PASSWORD: &str = "pacs-test-secret";
const BINARY: &str = "/usr/sbin/Orthanc";
const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

pub struct Orthanc {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A plain-HTTP client for loopback (the ring provider is given
/// explicitly: reqwest is built without one).
pub fn http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("client")
}

impl Orthanc {
    /// Configured on `port` in `dir`, not started.
    pub fn new(dir: &Path, port: u16) -> Orthanc {
        for (path, what) in [(BINARY, "orthanc"), (DICOMWEB_PLUGIN, "orthanc-dicomweb")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install Debian's {what} (scripts/test.sh does: apt-get install orthanc orthanc-dicomweb dcmtk)"
            );
        }
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let config = serde_json::json!({
            "Name": "clinshare-test-pacs",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": port,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": true,
            "RegisteredUsers": {USER: PASSWORD},
            "DicomServerEnabled": false,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": true, "Root": "/dicom-web/"},
        });
        std::fs::write(dir.join("orthanc.json"), config.to_string()).expect("config");
        Orthanc {
            port,
            dir: dir.to_path_buf(),
            child: None,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until its REST API answers (about 4 s).
    pub async fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join("orthanc.log")).expect("log");
        let child = Command::new(BINARY)
            .arg(self.dir.join("orthanc.json"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start Orthanc");
        self.child = Some(child);
        let client = http();
        let started = Instant::now();
        loop {
            let ok = client
                .get(format!("{}/system", self.base()))
                .basic_auth(USER, Some(PASSWORD))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "Orthanc exited ({status}):\n{}",
                    std::fs::read_to_string(self.dir.join("orthanc.log")).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Orthanc did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = http()
            .get(format!("{}{path}", self.base()))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("Orthanc answers");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json")
    }

    pub async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let r = http()
            .get(format!("{}{path}", self.base()))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("Orthanc answers");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.bytes().await.expect("body").to_vec()
    }

    /// Orthanc's ids for a DICOM UID (`/tools/lookup`).
    pub async fn lookup(&self, uid: &str) -> Vec<String> {
        let r = http()
            .post(format!("{}/tools/lookup", self.base()))
            .basic_auth(USER, Some(PASSWORD))
            .body(uid.to_owned())
            .send()
            .await
            .expect("Orthanc answers");
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["ID"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
