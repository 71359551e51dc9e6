//! The web console in a real browser: Debian's headless Chromium driven by Playwright
//! (`tests/browser/console.mjs`) against the whole server with fake channels. A counselor signs
//! in, sees an urgent case appear live when an emergency arrives on WhatsApp, accepts it,
//! writes to the survivor (the fake WhatsApp receives it), sees her answer, closes the case
//! (she gets the survey); a supervisor reads the reports. Screenshots go to
//! `target/console-screenshots/`.
//!
//! Needs `node`, `/usr/bin/chromium` (or `TEDUH_CHROMIUM`) and `npm ci` in `tests/browser`
//! (`.ci/run` installs all three). Without them the test says what is missing and passes,
//! except under CI (`CI` set), where it fails.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use teduh::access::{Role, token, users};
use teduh::store::NewUser;

use common::e2e::*;

const PASSWORD: &str = "kata sandi konsol uji";
const REPLY: &str = "Saya Dewi dari UPTD PPA. Apakah Anda aman sekarang?";

/// What the browser test needs, or why it cannot run here.
fn prerequisites() -> Result<(PathBuf, String), String> {
    let dir = common::crate_path("tests/browser");
    let chromium = std::env::var("TEDUH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Err(format!("no Chromium at {chromium} (apt-get install chromium chromium-driver)"));
    }
    if Command::new("node").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        return Err("no `node` on PATH".into());
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Err("playwright-core is not installed (cd tests/browser && npm ci)".into());
    }
    Ok((dir, chromium))
}

struct Browser {
    child: Child,
    stdin: ChildStdin,
    steps: mpsc::Receiver<String>,
}

impl Browser {
    /// Waits (at most `secs`) for `STEP <prefix>...` and returns the whole step.
    fn step(&mut self, prefix: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.steps.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(_) => {
                    let _ = self.child.kill();
                    let out = self.child.wait_with_output_lossy();
                    panic!("the browser never reached `{prefix}`; its errors:\n{out}");
                }
            }
        }
    }

    fn go(&mut self, name: &str) {
        writeln!(self.stdin, "GO {name}").expect("write to the browser test");
    }
}

trait Lossy {
    fn wait_with_output_lossy(&mut self) -> String;
}

impl Lossy for Child {
    fn wait_with_output_lossy(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        let _ = self.wait();
        text
    }
}

/// Waits in a blocking thread so the server's tasks keep running on the runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking step")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counselor_takes_an_urgent_case_from_the_browser_and_closes_it() {
    let (dir, chromium) = match prerequisites() {
        Ok(found) => found,
        Err(why) if std::env::var_os("CI").is_some() => panic!("browser test cannot run under CI: {why}"),
        Err(why) => {
            eprintln!("SKIPPED console browser test: {why}");
            return;
        }
    };
    let shots = common::crate_path("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let w = world((10, 0)).await;
    let dewi = NewUser {
        name: "dewi",
        role: Role::Counselor,
        provider_id: Some("uptd-ppa-palu"),
        counselor_id: Some("uptd-ppa-palu-k1"),
    };
    users::add_user(&w.store, &w.directory, &dewi, 1).await.unwrap();
    w.store.set_password("dewi", Some(&token::hash_password(PASSWORD).unwrap())).await.unwrap();
    let sri = NewUser {
        name: "sri",
        role: Role::Supervisor,
        provider_id: Some("uptd-ppa-palu"),
        counselor_id: None,
    };
    let sri_token = users::add_user(&w.store, &w.directory, &sri, 1).await.unwrap().token;

    let mut child = Command::new("node")
        .arg(dir.join("console.mjs"))
        .env("TEDUH_BASE", &w.base)
        .env("TEDUH_SHOTS", &shots)
        .env("TEDUH_USER", "dewi")
        .env("TEDUH_PASSWORD", PASSWORD)
        .env("TEDUH_SUPERVISOR_TOKEN", &sri_token)
        .env("TEDUH_REPLY", REPLY)
        .env("TEDUH_CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let (tx, steps) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(step) = line.strip_prefix("STEP ") {
                let _ = tx.send(step.to_string());
            }
        }
    });
    let stdin = child.stdin.take().unwrap();
    let browser = std::sync::Arc::new(std::sync::Mutex::new(Browser { child, stdin, steps }));
    let wait = |prefix: &'static str, secs: u64| {
        let browser = browser.clone();
        blocking(move || browser.lock().unwrap().step(prefix, secs))
    };

    wait("logged-in", 60).await;
    w.whatsapp_emergency().await;
    let case = wait("case ", 60).await;
    let code = case.trim_start_matches("case ").to_string();
    assert!(code.starts_with("K-"), "{case}");
    wait("accepted", 30).await;
    w.until("the survivor hears who has her case", |w| {
        w.whatsapp_to_survivor().iter().any(|t| t.starts_with("Konselor Contoh 2A dari"))
    })
    .await;
    wait("replied", 30).await;
    w.until("the console's reply at her WhatsApp", |w| {
        w.whatsapp_to_survivor().iter().any(|t| t == &format!("Konselor Contoh 2A: {REPLY}"))
    })
    .await;
    w.whatsapp_text("b1", "Ya, saya sudah di rumah saudara.").await;
    browser.lock().unwrap().go("answered");
    wait("closed", 30).await;
    w.until("the survey question", |w| {
        w.whatsapp_to_survivor()
            .last()
            .is_some_and(|t| t.starts_with("Seberapa puas Anda dengan layanan kami?"))
    })
    .await;
    let stored = w.store.case_by_code(&code).await.unwrap().unwrap();
    assert_eq!(stored.status, "closed");
    wait("reports", 60).await;
    wait("done", 30).await;
    let status = blocking(move || {
        let mut b = browser.lock().unwrap();
        b.child.wait().unwrap()
    })
    .await;
    assert!(status.success(), "the browser script failed: {status}");
    for shot in [
        "01-queue-empty",
        "02-urgent-case-live",
        "03-case-conversation",
        "04-case-closed",
        "05-roster",
        "06-queue-phone-en",
        "07-reports",
    ] {
        let file = shots.join(format!("{shot}.png"));
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(size > 5_000, "{} was not saved", file.display());
    }
}
