//! The provider directory: the shipped example, validation with line numbers, `teduh providers
//! import` / `list` through the real binary, and the stored round trip on SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use teduh::directory::provider::{DirectoryError, parse_directory, read_directory};
use teduh::directory::{Provider, ProviderKind, Regions};
use teduh::store::Db;
use teduh::store::Store;

fn regions() -> Regions {
    Regions::embedded().expect("embedded regions")
}

fn parse(text: &str) -> Vec<Provider> {
    parse_directory(text, &regions()).unwrap_or_else(|e| panic!("expected a valid directory, got {e:#?}"))
}

fn problems(text: &str) -> Vec<DirectoryError> {
    match parse_directory(text, &regions()) {
        Ok(p) => panic!("expected problems, but {} provider(s) parsed:\n{text}", p.len()),
        Err(errors) => errors,
    }
}

/// Exactly one problem, at `line`, whose message contains every one of `mentions`.
fn assert_one_problem(text: &str, line: u64, mentions: &[&str]) {
    let errors = problems(text);
    assert_eq!(errors.len(), 1, "expected one problem, got {errors:#?}");
    let e = &errors[0];
    assert_eq!(e.line, line, "wrong line for {e:?}");
    for m in mentions {
        assert!(e.message.contains(m), "message {:?} does not mention {m:?}", e.message);
    }
}

fn example() -> Vec<Provider> {
    read_directory(&common::crate_path("providers/example.yaml"), &regions())
        .unwrap_or_else(|e| panic!("providers/example.yaml has problems: {e:#?}"))
}

fn fixture(name: &str) -> Vec<Provider> {
    let path = common::crate_path(&format!("tests/fixtures/providers/{name}"));
    read_directory(&path, &regions()).unwrap_or_else(|e| panic!("{name} has problems: {e:#?}"))
}

fn by_id(mut providers: Vec<Provider>) -> Vec<Provider> {
    providers.sort_by(|a, b| a.id.cmp(&b.id));
    providers
}

// ---- The shipped example ------------------------------------------------------------------

#[test]
fn example_directory_parses_and_covers_the_pilot_regions() {
    let regions = regions();
    let text = std::fs::read_to_string(common::crate_path("providers/example.yaml")).expect("read example");
    let providers = parse_directory(&text, &regions).unwrap_or_else(|e| panic!("example: {e:#?}"));
    assert_eq!(providers.len(), 15);

    let ids: HashSet<&str> = providers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), 15, "provider ids are unique");

    // Each pilot city with its province: the region's name, a provider of the right kind there.
    let covered = [
        ("72.71", "Kota Palu", ProviderKind::UptdPpaRegency),
        ("72", "Sulawesi Tengah", ProviderKind::UptdPpaProvince),
        ("53.71", "Kota Kupang", ProviderKind::UptdPpaRegency),
        ("53", "Nusa Tenggara Timur", ProviderKind::UptdPpaProvince),
        ("63.72", "Kota Banjarbaru", ProviderKind::UptdPpaRegency),
        ("63", "Kalimantan Selatan", ProviderKind::UptdPpaProvince),
        ("13.71", "Kota Padang", ProviderKind::UptdPpaRegency),
        ("13", "Sumatera Barat", ProviderKind::UptdPpaProvince),
        ("31", "DKI Jakarta", ProviderKind::UptdPpaProvince),
    ];
    for (code, name, kind) in covered {
        assert_eq!(regions.get(code).map(|r| r.name.as_str()), Some(name), "region {code}");
        assert!(
            providers.iter().any(|p| p.region == code && p.kind == kind),
            "no {} provider for {name} ({code})",
            kind.as_str()
        );
    }

    let national: Vec<&Provider> = providers.iter().filter(|p| p.kind == ProviderKind::National).collect();
    assert_eq!(national.len(), 1, "exactly one national line");
    let sapa = national[0];
    assert_eq!(sapa.id, "sapa-129");
    assert!(sapa.name.contains("SAPA 129"), "{}", sapa.name);
    assert_eq!(sapa.region, "");
    assert_eq!(sapa.contacts.phone.as_deref(), Some("129"));
    assert_eq!(sapa.contacts.whatsapp.as_deref(), Some("08111-129-129"));
    assert!(sapa.hours.always, "SAPA 129 is always open");

    for p in providers.iter().filter(|p| p.kind != ProviderKind::National) {
        assert!(p.name.contains("CONTOH FIKTIF"), "`{}` is not marked fictional: {}", p.id, p.name);
        assert!(regions.get(&p.region).is_some(), "`{}` has region {}", p.id, p.region);
        assert!(p.location.is_some(), "`{}` has no location", p.id);
        assert!(!p.counselors.is_empty(), "`{}` has no counselors", p.id);
    }
}

// ---- One test per kind of bad file ----------------------------------------------------------

/// A valid file. Lines: 2 `- id: palu`, 3 name, 4 kind, 5 region, 6 location, 7 services,
/// 8 `hours:`, 9 tz, 10 open, 11 contacts, 12 `counselors:`, 13 and 14 its counselors,
/// 15 `- id: sigi`, .. 21 `counselors:`, 22 sigi's counselor.
const VALID: &str = r#"providers:
  - id: palu
    name: "[CONTOH FIKTIF] UPTD PPA Kota Palu"
    kind: uptd_ppa_regency
    region: "72.71"
    location: { lat: -0.895, lon: 119.859 }
    services: [pengaduan, konsultasi]
    hours:
      tz: WITA
      open: ["mon-fri 08:00-16:00"]
    contacts: { phone: "0800-0000-0002", whatsapp: "+62 811-0000-0002" }
    counselors:
      - { id: palu-k1, name: "Konselor A", telegram: "100000021" }
      - { id: palu-k2, name: "Konselor B", whatsapp: "+62 812-0000-0202" }
  - id: sigi
    name: "[CONTOH FIKTIF] Rumah Perempuan Sigi"
    kind: lplpp
    region: "72.10"
    services: [informasi]
    hours: { tz: WITA, always: true }
    counselors:
      - { id: sigi-k1, name: "Konselor C", sms: "0812-0000-0303" }
"#;

/// `VALID` with `from` (which must occur exactly once) replaced by `to`.
fn valid_with(from: &str, to: &str) -> String {
    assert_eq!(VALID.matches(from).count(), 1, "{from:?} must occur once in VALID");
    VALID.replace(from, to)
}

#[test]
fn the_valid_base_file_parses() {
    let providers = parse(VALID);
    assert_eq!(providers.len(), 2);
    assert_eq!(providers[0].id, "palu");
    assert_eq!(providers[0].location, Some((-0.895, 119.859)));
    assert_eq!(providers[0].hours.slots.len(), 1);
    assert_eq!(providers[0].counselors.len(), 2);
    assert_eq!(providers[1].region, "72.10");
    assert_eq!(providers[1].counselors[0].channels.sms.as_deref(), Some("0812-0000-0303"));
    assert!(providers.iter().all(|p| p.show_counselor_names), "names are shown unless a provider says not");
}

#[test]
fn a_provider_can_keep_its_counselors_names_from_survivors() {
    let providers =
        parse(&valid_with("    kind: lplpp\n", "    kind: lplpp\n    show_counselor_names: false\n"));
    assert!(providers[0].show_counselor_names);
    assert!(!providers[1].show_counselor_names);
}

#[test]
fn yaml_syntax_error() {
    let text = valid_with("[pengaduan, konsultasi]", "[pengaduan, konsultasi}");
    assert_one_problem(&text, 7, &["mismatched bracket", "'}'"]);
}

#[test]
fn unknown_key() {
    let text =
        valid_with("    kind: uptd_ppa_regency\n", "    kind: uptd_ppa_regency\n    adress: Jl. Contoh\n");
    assert_one_problem(&text, 5, &["unknown field `adress`", "address"]);
}

#[test]
fn unknown_region_code() {
    let text = valid_with(r#"region: "72.71""#, r#"region: "72.99""#);
    assert_one_problem(&text, 5, &["unknown region code", "`72.99`"]);
}

#[test]
fn coordinates_outside_indonesia() {
    // Latitude and longitude swapped, the usual mistake.
    let text = valid_with("{ lat: -0.895, lon: 119.859 }", "{ lat: 119.859, lon: -0.895 }");
    assert_one_problem(&text, 6, &["119.859, -0.895", "not in Indonesia"]);
}

#[test]
fn duplicate_provider_id_is_reported_at_the_second() {
    let text = valid_with("  - id: sigi", "  - id: palu");
    assert_one_problem(&text, 15, &["duplicate provider id", "`palu`"]);
}

#[test]
fn duplicate_counselor_id_across_providers() {
    let text = valid_with("{ id: sigi-k1,", "{ id: palu-k2,");
    assert_one_problem(&text, 22, &["duplicate counselor id", "`palu-k2`"]);
}

#[test]
fn unknown_service() {
    let text = valid_with("[pengaduan, konsultasi]", "[pengaduan, konseling]");
    assert_one_problem(&text, 7, &["unknown service `konseling`", "konsultasi"]);
}

#[test]
fn unknown_kind() {
    let text = valid_with("kind: uptd_ppa_regency", "kind: uptd_ppa_kota");
    assert_one_problem(&text, 4, &["unknown kind `uptd_ppa_kota`", "uptd_ppa_regency"]);
}

#[test]
fn bad_opening_hours() {
    let text = valid_with(r#"["mon-fri 08:00-16:00"]"#, r#"["mon-fri 08:00-16:00", "sat 13:00-09:00"]"#);
    assert_one_problem(&text, 10, &["opening hours `sat 13:00-09:00`"]);
}

#[test]
fn unknown_time_zone() {
    let text = valid_with("tz: WITA\n", "tz: CET\n");
    assert_one_problem(&text, 9, &["unknown time zone `CET`", "WITA"]);
}

#[test]
fn bad_counselor_phone_number() {
    let text = valid_with(r#"whatsapp: "+62 812-0000-0202""#, r#"whatsapp: "812-0000-0202""#);
    assert_one_problem(&text, 14, &["counselor `palu-k2`", "`812-0000-0202` is not a phone number"]);
}

#[test]
fn bad_provider_phone_number_is_reported_at_its_contacts() {
    let text = valid_with(r#"phone: "0800-0000-0002""#, r#"phone: "0800-0000-000x""#);
    assert_one_problem(&text, 11, &["provider `palu`", "phone `0800-0000-000x` is not a phone number"]);
}

#[test]
fn empty_values_are_not_contacts() {
    let text = valid_with(r#"phone: "0800-0000-0002""#, r#"phone: """#);
    assert_one_problem(&text, 11, &["phone `` is not a phone number"]);
    let text = valid_with(r#"phone: "0800-0000-0002""#, r#"phone: "---""#);
    assert_one_problem(&text, 11, &["phone `---` is not a phone number"]);
}

#[test]
fn an_unknown_kind_does_not_hide_the_other_problems() {
    let text = valid_with("kind: uptd_ppa_regency", "kind: shelter")
        .replace(r#"region: "72.71""#, r#"region: "99.99""#);
    let errors = parse_directory(&text, &regions()).unwrap_err();
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5], "{errors:?}");
    assert!(errors[0].message.contains("`shelter`") && errors[1].message.contains("`99.99`"), "{errors:?}");
}

#[test]
fn an_empty_directory_is_refused() {
    let errors = parse_directory("providers: []\n", &regions()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("no providers"), "{errors:?}");
}

#[test]
fn province_uptd_ppa_with_a_regency_code() {
    let text = valid_with("kind: uptd_ppa_regency", "kind: uptd_ppa_province");
    assert_one_problem(&text, 5, &["province UPTD PPA needs a province code", "`72.71`"]);
}

#[test]
fn regency_uptd_ppa_with_a_province_code() {
    let text = valid_with(r#"region: "72.71""#, r#"region: "72""#);
    assert_one_problem(&text, 5, &["regency UPTD PPA needs a regency/city code", "`72`"]);
}

#[test]
fn counselor_with_no_channel() {
    let text = valid_with(r#"name: "Konselor A", telegram: "100000021" }"#, r#"name: "Konselor A" }"#);
    assert_one_problem(&text, 13, &["counselor `palu-k1` has no telegram, whatsapp or sms"]);
}

#[test]
fn provider_missing_region() {
    let text = valid_with("    region: \"72.71\"\n", "");
    assert_one_problem(&text, 2, &["provider `palu` needs a `region` code"]);
}

#[test]
fn several_problems_are_all_reported_sorted_by_line() {
    let path = common::crate_path("tests/fixtures/providers/several_problems.yaml");
    let errors = read_directory(&path, &regions()).expect_err("the fixture has problems");
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.message.as_str())).collect();
    let expected: [(u64, &[&str]); 6] = [
        (6, &["unknown region code `53.99`"]),
        (9, &["provider `kupang`", "whatsapp `0811` is not a phone number"]),
        (16, &["coordinates -0.947, 10.417"]),
        (17, &["unknown service `curhat`"]),
        (20, &["duplicate counselor id `kupang-k1`"]),
        (20, &["counselor `kupang-k1` has no telegram, whatsapp or sms"]),
    ];
    assert_eq!(got.len(), expected.len(), "{errors:#?}");
    for ((line, message), (want_line, mentions)) in got.iter().zip(expected) {
        assert_eq!(*line, want_line, "{message}");
        for m in mentions {
            assert!(message.contains(m), "line {line}: {message:?} does not mention {m:?}");
        }
    }
}

#[test]
fn an_unreadable_file_is_a_problem_without_a_line() {
    let errors = read_directory(Path::new("tests/fixtures/providers/no-such-file.yaml"), &regions())
        .expect_err("missing file");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 0);
    assert!(errors[0].message.contains("cannot read") && errors[0].message.contains("no-such-file.yaml"));
}

// ---- `teduh providers` through the binary ---------------------------------------------------

fn teduh(data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teduh"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in ["TEDUH_CONFIG", "DATABASE_URL", "TEDUH_FLOWS_DIR", "TEDUH_LOCALES_DIR", "LOG_FORMAT"] {
        cmd.env_remove(var);
    }
    cmd.env("TEDUH_DATA_DIR", data_dir).output().expect("run teduh")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `teduh providers list`, one line per provider.
fn list(data_dir: &Path) -> Vec<String> {
    let out = teduh(data_dir, &["providers", "list"]);
    assert_success(&out, "providers list");
    stdout(&out).lines().map(str::to_string).collect()
}

/// The lines `providers list` should print for `providers`: by id, tab-separated.
fn list_lines(providers: &[Provider]) -> Vec<String> {
    by_id(providers.to_vec())
        .iter()
        .map(|p| {
            let region = if p.region.is_empty() { "national" } else { &p.region };
            format!("{}\t{}\t{region}\t{}", p.id, p.kind.as_str(), p.name)
        })
        .collect()
}

fn import_example(data_dir: &Path) {
    let out = teduh(data_dir, &["providers", "import", "providers/example.yaml"]);
    assert_success(&out, "providers import");
    assert_eq!(stdout(&out), "imported 15 provider(s) and 28 counselor(s) from providers/example.yaml\n");
}

#[test]
fn import_then_list_shows_the_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    import_example(dir.path());
    let listed = list(dir.path());
    assert_eq!(listed.len(), 15, "{listed:#?}");
    assert_eq!(listed, list_lines(&example()));
    assert!(listed.contains(&"sapa-129\tnational\tnational\tSAPA 129 (KemenPPPA)".to_string()));

    // A second import replaces the directory whole.
    let out = teduh(dir.path(), &["providers", "import", "tests/fixtures/providers/small.yaml"]);
    assert_success(&out, "import small.yaml");
    assert_eq!(
        stdout(&out),
        "imported 2 provider(s) and 1 counselor(s) from tests/fixtures/providers/small.yaml\n"
    );
    assert_eq!(list(dir.path()), list_lines(&fixture("small.yaml")));
}

#[test]
fn a_bad_import_reports_every_problem_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    import_example(dir.path());
    let before = list(dir.path());
    assert_eq!(before.len(), 15);

    let file = "tests/fixtures/providers/several_problems.yaml";
    let out = teduh(dir.path(), &["providers", "import", file]);
    assert!(!out.status.success(), "a bad import must fail:\n{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let prefixes = [6, 9, 16, 17, 20, 20].map(|n| format!("{file}:{n}: "));
    assert_eq!(lines.len(), prefixes.len() + 1, "{text}");
    for (line, prefix) in lines.iter().zip(&prefixes) {
        assert!(line.starts_with(prefix.as_str()), "{line:?} should start with {prefix:?}");
    }
    assert!(lines[0].ends_with("unknown region code `53.99`"), "{}", lines[0]);
    assert_eq!(lines[6], "6 problem(s) found; nothing was imported");

    assert_eq!(list(dir.path()), before, "nothing may be half-imported");
}

#[test]
fn importing_a_missing_file_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    import_example(dir.path());
    let out = teduh(dir.path(), &["providers", "import", "providers/no-such-file.yaml"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with("providers/no-such-file.yaml: cannot read"), "{text}");
    assert!(text.ends_with("1 problem(s) found; nothing was imported\n"), "{text}");
    assert_eq!(list(dir.path()).len(), 15);
}

#[test]
fn check_validates_without_storing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = teduh(dir.path(), &["providers", "import", "--check", "providers/example.yaml"]);
    assert_success(&out, "providers import --check");
    assert_eq!(stdout(&out), "providers/example.yaml: 15 provider(s), 28 counselor(s): no problems\n");
    assert!(list(dir.path()).is_empty(), "--check must not store anything");

    let bad = "tests/fixtures/providers/several_problems.yaml";
    let out = teduh(dir.path(), &["providers", "import", "--check", bad]);
    assert!(!out.status.success(), "--check of a bad file must fail");
    assert!(stdout(&out).contains(&format!("{bad}:6: unknown region code `53.99`")), "{}", stdout(&out));
    assert!(list(dir.path()).is_empty());
}

// ---- The stored directory -------------------------------------------------------------------

/// (counselor id, provider id) rows, by counselor id.
async fn counselor_rows(store: &Store) -> Vec<(String, String)> {
    const SQL: &str = "SELECT id, provider_id FROM counselors ORDER BY id";
    let rows = match store.db() {
        Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
    };
    rows.expect("read counselors")
}

fn expected_counselors(providers: &[Provider]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> =
        providers.iter().flat_map(|p| p.counselors.iter().map(|c| (c.id.clone(), p.id.clone()))).collect();
    rows.sort();
    rows
}

/// Stores the example, then the smaller fixture (which changes one provider and drops the
/// rest), checking what comes back each time. Leaves the smaller directory stored.
async fn round_trip(store: &Store) -> Vec<Provider> {
    assert!(store.providers().await.expect("read providers").is_empty(), "a new store is empty");

    let all = example();
    store.replace_providers(&all).await.expect("store the example");
    assert_eq!(store.providers().await.expect("read providers"), by_id(all.clone()));
    assert_eq!(counselor_rows(store).await, expected_counselors(&all));

    // Storing the same list again changes nothing.
    store.replace_providers(&all).await.expect("store the example again");
    assert_eq!(store.providers().await.expect("read providers"), by_id(all.clone()));

    let small = fixture("small.yaml");
    let palu_before = all.iter().find(|p| p.id == "uptd-ppa-palu").expect("palu in the example");
    let palu_after = small.iter().find(|p| p.id == "uptd-ppa-palu").expect("palu in small.yaml");
    assert_ne!(palu_before, palu_after, "the fixture changes this provider");
    store.replace_providers(&small).await.expect("store the smaller list");
    let stored = store.providers().await.expect("read providers");
    assert_eq!(stored, by_id(small.clone()));
    assert_eq!(stored.len(), 2);
    assert_eq!(counselor_rows(store).await, expected_counselors(&small));
    assert_eq!(
        counselor_rows(store).await,
        vec![("uptd-ppa-palu-k1".to_string(), "uptd-ppa-palu".to_string())],
        "counselors of removed providers are removed too"
    );
    by_id(small)
}

async fn empty_it(store: &Store) {
    store.replace_providers(&[]).await.expect("store an empty directory");
    assert!(store.providers().await.expect("read providers").is_empty());
    assert!(counselor_rows(store).await.is_empty());
}

#[tokio::test]
async fn sqlite_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("teduh.db");
    let store = Store::open_sqlite(&path).await.expect("open SQLite");
    let stored = round_trip(&store).await;
    store.close().await;

    let reopened = Store::open_sqlite(&path).await.expect("reopen SQLite");
    assert_eq!(reopened.providers().await.expect("read providers"), stored, "survives a restart");
    empty_it(&reopened).await;
    reopened.close().await;
}

#[tokio::test]
async fn postgres_round_trip() {
    let Some(pg) = common::pg_store("providers").await else { return };
    let stored = round_trip(&pg.store).await;

    let reopened = pg.reopen().await;
    assert_eq!(reopened.providers().await.expect("read providers"), stored, "survives a restart");
    empty_it(&reopened).await;
    reopened.close().await;
    pg.cleanup().await;
}
