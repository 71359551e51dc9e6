//! The console channel as a library: rendering, timeouts while waiting for a typed line.

mod common;

use std::sync::Arc;
use std::time::Duration;

use teduh::channel::console::{self, ConsoleOptions, parse_line, render};
use teduh::clock::ManualClock;
use teduh::flow::{Event, Reply};
use teduh::runtime::Runtime;
use teduh::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

#[test]
fn replies_render_with_numbered_choices_and_location_lines_parse() {
    let reply = Reply { text: "Pilih:".into(), choices: vec!["Ya".into(), "Tidak".into()], expect: None };
    assert_eq!(render(&reply), "Pilih:\n  1. Ya\n  2. Tidak\n");
    assert_eq!(parse_line("/location -6.2 106.8"), Event::Location { lat: -6.2, lon: 106.8 });
    assert_eq!(parse_line("/location here"), Event::Text("/location here".into()));
    assert_eq!(parse_line("halo"), Event::Text("halo".into()));
}

#[tokio::test]
async fn an_unanswered_question_times_out_while_the_console_waits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let runtime = Runtime::new(common::fixture_engine(), store, clock.clone());
    let (mut user, input) = tokio::io::duplex(1024);
    let (output, mut screen) = tokio::io::duplex(64 * 1024);
    let options = ConsoleOptions { user: "u".into(), lang: None, echo: true, prompt: false };
    let session =
        tokio::spawn(async move { console::run(&runtime, &options, BufReader::new(input), output).await });

    let mut seen = String::new();
    let mut wait_for = async |needle: &str, seen: &mut String| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.contains(needle) {
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, screen.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("`{needle}` never appeared; screen:\n{seen}"))
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    wait_for("Pilih:", &mut seen).await;
    user.write_all(b"6\n").await.unwrap();
    wait_for("Tulis sesuatu.", &mut seen).await;
    clock.advance_ms(5 * 60 * 1000);
    wait_for("Waktu habis.", &mut seen).await;
    assert!(seen.ends_with("Waktu habis.\n[conversation ended]\n"), "{seen}");
    drop(user);
    session.await.unwrap().unwrap();
}
