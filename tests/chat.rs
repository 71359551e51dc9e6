//! `teduh chat` driven through a pipe, compared line by line with the expected transcript.

use std::io::Write;
use std::process::{Command, Stdio};

fn chat(data_dir: &std::path::Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .arg("chat")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start teduh chat");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write input");
    let out = child.wait_with_output().expect("teduh chat finishes");
    assert!(out.status.success(), "chat failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Case codes are random; everything else must match exactly.
fn mask_case_codes(text: &str) -> String {
    let re = regex::Regex::new(r"K-[0-9A-F]{6}").expect("valid regex");
    re.replace_all(text, "K-XXXXXX").into_owned()
}

const WELCOME_ID: &str = "\
Halo, ini layanan Teduh untuk perempuan. Percakapan ini rahasia. Kami memberi informasi dan menghubungkan Anda dengan konselor, tetapi kami bukan polisi. Ketik \"keluar\" untuk menutup, \"hapus\" untuk menghapus percakapan, atau \"darurat\" bila Anda dalam bahaya.
Apa yang Anda perlukan? Balas dengan nomor.
  1. Informasi
  2. Bicara dengan konselor
  3. Lapor darurat
  4. Layanan terdekat
  5. Bahasa / Language
  6. Keluar dengan aman
";

#[test]
fn piped_emergency_report_matches_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let input = "3\ntidak\npalu\n1\ntidak\ntidak\n";
    let expected = format!(
        "{WELCOME_ID}\
> 3
Apakah Anda aman saat ini?
  1. Ya
  2. Tidak
> tidak
Bila Anda dalam bahaya, segera hubungi 112 atau polisi 110. SAPA 129: telepon 129, WhatsApp 08111-129-129. Kami juga akan menghubungi konselor untuk Anda.
Di mana Anda? Kirim lokasi Anda, atau tulis nama kabupaten/kota.
> palu
Apa yang terjadi? Balas dengan nomor.
  1. Kekerasan fisik
  2. Kekerasan psikis
  3. Kekerasan seksual
  4. Penelantaran
  5. Eksploitasi
  6. Perdagangan orang
  7. Lainnya
> 1
Apakah korbannya anak (di bawah 18 tahun)?
  1. Ya
  2. Tidak
> tidak
Apakah pelaku ada di dekat Anda sekarang?
  1. Ya
  2. Tidak
> tidak
[case K-XXXXXX opened: priority urgent, category fisik]
[escalation requested: policy urgent]
Laporan Anda sudah kami terima. Kami sedang menghubungi konselor terdekat dan akan mengabari Anda di sini. Bila nyawa Anda terancam, hubungi 112 atau polisi 110.
[conversation ended]
"
    );
    assert_eq!(mask_case_codes(&chat(dir.path(), &[], input)), expected);
}

#[test]
fn english_and_another_flow_by_option_then_quick_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = chat(dir.path(), &["--lang", "en", "--flow", "information"], "9\n");
    assert_eq!(
        out,
        "\
The information here is general. If you are in danger, type \"emergency\" at any time.
Choose a topic to read:
  1. Sexual violence
  2. Kinds of violence
  3. Your rights
  4. How to report
  5. Legal aid
  6. Health
  7. Economic empowerment
  8. After reporting
  9. Done
> 9
[conversation ended]
"
    );
    let out = chat(dir.path(), &["--lang", "en", "--user", "other"], "keluar\n");
    assert!(
        out.ends_with(
            "> keluar\nThank you.\n[chat cleared where the channel allows]\n[conversation ended]\n"
        ),
        "{out}"
    );
}

#[test]
fn a_second_session_continues_where_the_first_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let first = chat(dir.path(), &["--user", "sari"], "2\nya\n1\n");
    assert!(
        first.ends_with("> 1\nAnda tinggal di kabupaten/kota mana? Misalnya \"Kota Palu\".\n"),
        "{first}"
    );
    let second = chat(dir.path(), &["--user", "sari"], "kab. sigi\n");
    assert_eq!(
        second,
        "\
Anda tinggal di kabupaten/kota mana? Misalnya \"Kota Palu\".
> kab. sigi
Bagaimana cara yang aman bagi konselor untuk menghubungi Anda?
  1. Lewat percakapan ini
  2. Telepon
  3. SMS
  4. WhatsApp
"
    );
    // The language switch keyword works mid-conversation and is remembered.
    let third = chat(dir.path(), &["--user", "sari"], "english\n");
    assert!(third.ends_with("> english\nWhat is a safe way for a counselor to contact you?\n  1. Through this chat\n  2. Phone call\n  3. SMS\n  4. WhatsApp\n"), "{third}");
}

#[test]
fn unknown_entry_flow_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .args(["chat", "--flow", "nope"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_DATA_DIR", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry flow `nope`") && err.contains("helpline"), "{err}");
}
