//! Harness for end-to-end tests of the real app in a real window.
//!
//! Each [`Session`] starts `tauri-driver` (which starts WebKitWebDriver and
//! the built `clinshare-app` binary) on free ports with its own data
//! directory, and connects a WebDriver client to it. Needs an X display
//! (Xvfb), `tauri-driver` on PATH and a Secret Service session;
//! `scripts/test.sh` provides all three.
#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::sync::{Mutex, MutexGuard};

pub use fantoccini;

pub mod server;

/// Why an ignored E2E test was skipped, for `#[ignore = ...]`.
pub const NEEDS_WINDOW: &str = "needs Xvfb, tauri-driver and WebKitWebDriver (scripts/test.sh)";

/// One window at a time: sessions share the display and the keyring.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

pub struct Session {
    pub client: Client,
    driver: Child,
    _turn: MutexGuard<'static, ()>,
}

/// The workspace's target directory (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The built app: `CLINSHARE_APP_BIN`, or `target/debug/clinshare-app`.
pub fn app_binary() -> PathBuf {
    let path = std::env::var_os("CLINSHARE_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/clinshare-app"));
    assert!(
        path.exists(),
        "the app binary {} does not exist: run `cargo build -p clinshare-app` first",
        path.display()
    );
    path.canonicalize().expect("absolute app path")
}

/// A file from the media crate's test fixtures, as an absolute path.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/media/tests/fixtures")
        .join(name)
        .canonicalize()
        .expect("fixture")
}

/// Where screenshots and other artefacts of E2E runs are saved.
pub fn artefact_dir() -> PathBuf {
    let dir = target_dir().join("e2e-artefacts");
    std::fs::create_dir_all(&dir).expect("create artefact dir");
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Session {
    /// Start the app with `data_dir` as its store location.
    pub async fn start(data_dir: &Path) -> Session {
        Self::start_with_env(data_dir, &[]).await
    }

    /// Start the app with extra environment variables (e.g. its own
    /// `TMPDIR` and XDG folders, to scan them afterwards).
    pub async fn start_with_env(data_dir: &Path, env: &[(&str, &Path)]) -> Session {
        let turn = ONE_AT_A_TIME.lock().await;
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "no DISPLAY: run E2E tests under Xvfb (scripts/test.sh)"
        );
        let port = free_port();
        let native_port = free_port();
        let driver = Command::new("tauri-driver")
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("CLINSHARE_DATA_DIR", data_dir)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tauri-driver on PATH (cargo install tauri-driver --locked)");

        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app_binary() }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("could not start a WebDriver session: {e}"),
            }
        };
        Session {
            client,
            driver,
            _turn: turn,
        }
    }

    /// Wait (up to 20 s) for an element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Text of the element matching `css`, once it is present.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Type into the field matching `css`.
    pub async fn type_into(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear field");
        el.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Run a script in the page; its `return` value comes back as JSON.
    pub async fn execute(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Wait (up to 20 s) until `script` returns `true`.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.execute(script, vec![]).await == serde_json::Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Drop files onto the element matching `css`, as the desktop does:
    /// the webview's `tauri://drag-drop` listeners are called exactly as
    /// the shell calls them for a real drop, with the paths and the
    /// pointer position (physical pixels) at the element's centre.
    pub async fn drop_files(&self, css: &str, paths: &[&Path]) {
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let delivered = self
            .execute(
                r#"
                const [css, paths] = arguments;
                const el = document.querySelector(css);
                if (!el) return -1;
                // A person drops only on what is on screen.
                el.scrollIntoView({ block: 'center' });
                const box = el.getBoundingClientRect();
                const ratio = window.devicePixelRatio || 1;
                const position = {
                    x: (box.left + box.width / 2) * ratio,
                    y: (box.top + box.height / 2) * ratio,
                };
                let delivered = 0;
                for (const name of Object.getOwnPropertyNames(window)) {
                    let table;
                    try { table = window[name]; } catch (_) { continue; }
                    if (!table || typeof table !== 'object') continue;
                    const listeners = Object.getOwnPropertyDescriptor(table, 'tauri://drag-drop');
                    if (!listeners || !listeners.value) continue;
                    for (const id of Object.getOwnPropertyNames(listeners.value)) {
                        const l = listeners.value[id];
                        window.__TAURI_INTERNALS__.runCallback(l.handlerId, {
                            event: 'tauri://drag-drop',
                            id: Number(id),
                            payload: { paths, position },
                        });
                        delivered += 1;
                    }
                }
                return delivered;
                "#,
                vec![css.into(), paths.into()],
            )
            .await;
        assert!(
            delivered.as_i64().is_some_and(|n| n > 0),
            "no drop listener in the page (or no {css}): {delivered}"
        );
    }

    /// First run: create the store with its first clinician, who is then
    /// signed in (the patient list shows).
    pub async fn set_up(&self, user: &str, passphrase: &str) {
        self.type_into("#setup-user", user).await;
        self.type_into("#setup-passphrase", passphrase).await;
        self.type_into("#setup-passphrase-confirm", passphrase)
            .await;
        self.click("#setup-submit").await;
        self.find("#add-patient").await;
    }

    /// Settings → Approved server: enrol with `server`'s address, a fresh
    /// one-time code and `pin` (the server's own, or a wrong one).
    pub async fn enrol(&self, server: &server::ApprovedServer, pin: &str) {
        self.enrol_at(server, &server.url, pin).await;
    }

    /// Enrol as [`Session::enrol`] does, with `url` as the server's address
    /// (a proxy in front of it, say).
    pub async fn enrol_at(&self, server: &server::ApprovedServer, url: &str, pin: &str) {
        self.click("#nav-settings").await;
        self.find("#enrol-form").await;
        self.execute(
            "document.getElementById('enrol-url').value = ''; return true",
            vec![],
        )
        .await;
        self.type_into("#enrol-url", url).await;
        self.type_into("#enrol-code", &server.enrol_code()).await;
        self.type_into("#enrol-pin", pin).await;
        self.click("#enrol-submit").await;
    }

    /// Sign in to a store set up before; the workspace shows.
    pub async fn sign_in(&self, user: &str, passphrase: &str) {
        self.type_into("#sign-in-user", user).await;
        self.type_into("#sign-in-passphrase", passphrase).await;
        self.click("#sign-in-submit").await;
        self.find("#nav-outbox").await;
    }

    /// Kill the app's own process with SIGKILL, as a crash or a pulled
    /// plug would: nothing in it runs again, not even destructors. False if
    /// it was no longer running. Drop the session afterwards.
    pub fn kill_app(&self) -> bool {
        let app = app_binary();
        let Some(pid) = descendants(self.driver.id())
            .into_iter()
            .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == app))
        else {
            return false;
        };
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Add Jane Doe (NHS 943 476 5919, born 15/04/1972) from the patient
    /// list; her page shows.
    pub async fn add_jane_doe(&self) {
        self.click("#nav-patients").await;
        self.click("#add-patient").await;
        self.type_into("#patient-identifier", "943 476 5919").await;
        self.type_into("#patient-identifier-again", "9434765919")
            .await;
        self.type_into("#patient-family", "Doe").await;
        self.type_into("#patient-given", "Jane").await;
        self.type_into("#patient-dob", "15/04/1972").await;
        self.click("#patient-submit").await;
        self.find("#patient-heading").await;
    }

    /// Drag the gallery item matching `from` onto the element matching
    /// `to` with the page's own HTML drag-and-drop events (a `DataTransfer`
    /// filled by the page's `dragstart` handler): WebDriver has no way to
    /// perform an HTML5 drag in WebKitGTK, so the events are dispatched in
    /// the sequence a pointer drag produces.
    pub async fn drag_onto(&self, from: &str, to: &str) {
        let done = self
            .execute(
                r#"
                const [from, to] = arguments;
                const src = document.querySelector(from);
                const dst = document.querySelector(to);
                if (!src || !dst) return 'missing ' + (src ? to : from);
                const dataTransfer = new DataTransfer();
                const fire = (el, type) =>
                    el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer }));
                fire(src, 'dragstart');
                fire(dst, 'dragenter');
                const accepted = !fire(dst, 'dragover');
                fire(dst, 'drop');
                fire(src, 'dragend');
                return accepted ? 'ok' : 'the target refused the drag';
                "#,
                vec![from.into(), to.into()],
            )
            .await;
        assert_eq!(done, serde_json::json!("ok"), "drag {from} onto {to}");
    }

    /// Run axe-core in the page; panics listing any serious or critical
    /// violation. `screen` names the screen in the message.
    pub async fn assert_accessible(&self, screen: &str) {
        let axe = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../ui/node_modules/axe-core/axe.min.js"),
        )
        .expect("axe-core from ui/node_modules (npm ci in ui/)");
        self.execute(&format!("{axe}\nreturn true;"), vec![]).await;
        let result = self
            .client
            .execute_async(
                r#"
                const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ['violations'] })
                  .then(r => done(r.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                  .catch(e => done(['axe failed: ' + e]));
                "#,
                vec![],
            )
            .await
            .expect("axe run");
        assert_eq!(
            result,
            serde_json::json!([]),
            "accessibility violations on the {screen} screen"
        );
    }

    /// Save a screenshot under target/e2e-artefacts.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = artefact_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("save screenshot");
        path
    }

    /// Close the window and stop the driver.
    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The processes below `root` (tauri-driver starts WebKitWebDriver, which
/// starts the app), from each process's parent in `/proc/PID/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "PID (name) STATE PPID ...": the name may hold spaces and
            // parentheses, so read after the last ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}
