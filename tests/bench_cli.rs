//! `teduh bench` runs end to end (a tiny, bounded load) and prints its table. It asserts that
//! the bench works, never how fast anything is.

use std::process::Command;
use std::sync::Mutex;

/// The benches in this file run one at a time: each measures pace, and two at once on a small
/// machine would measure each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn the_bench_drives_a_real_server_and_prints_its_numbers() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .args(["bench", "--users", "4", "--seconds", "8", "--think-ms", "1300"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .output()
        .expect("run teduh bench");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}\n{}", String::from_utf8_lossy(&out.stderr));
    for row in [
        "backend",
        "inbound messages/s sustained",
        "end-to-end p99",
        "emergency to counselor p50",
        "peak RSS",
    ] {
        assert!(table.contains(row), "{row} missing:\n{table}");
    }
    let timed: usize = table
        .lines()
        .find_map(|l| l.strip_prefix("replies timed"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(timed >= 4, "every person got at least one reply:\n{table}");
    let emergencies: usize = table
        .lines()
        .find_map(|l| l.strip_prefix("emergencies timed"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(emergencies >= 1, "the emergency reached the counselor:\n{table}");
    assert!(table.contains("SQLite"));
}

#[test]
fn the_bench_refuses_unbounded_runs() {
    let out = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .args(["bench", "--seconds", "100000"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run teduh bench");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seconds must be 1 to 600"));
}

/// Runs `teduh bench --drain` with `extra` arguments and returns its table; the command itself
/// fails when the pace misses the rate by more than 5% or any second holds more than the rate.
fn drain(extra: &[&str]) -> String {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let out = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .args(["bench", "--drain", "5000", "--rate", "500"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .output()
        .expect("run teduh bench --drain");
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{table}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.contains("messages arrived                 5000"), "{table}");
    assert!(table.contains("within 5% of the rate            yes"), "{table}");
    assert!(table.contains("never above the rate             yes"), "{table}");
    table
}

#[test]
fn a_backlog_drains_at_the_configured_rate_and_never_above_it() {
    let table = drain(&[]);
    assert!(table.contains("SQLite"), "{table}");
}
