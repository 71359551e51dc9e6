//! `teduh cases export`: one CSV row per case, ready for SIMFONI PPA data entry. Only
//! structured fields: never message text, never a phone number or chat id.

use thiserror::Error;

use super::detail;
use super::fields::simfoni_kind;
use super::time::format_local;
use crate::directory::Directory;
use crate::store::CaseRecord;

/// Columns that can be exported, with what they hold. The default export has all of them, in
/// this order; `--columns` picks and orders a subset (SIMFONI forms change: keep it configurable).
pub const COLUMNS: &[(&str, &str)] = &[
    ("kode_kasus", "case code"),
    ("tanggal_lapor", "when the case was opened, local time"),
    ("prioritas", "urgent, high, normal or low"),
    ("status", "new, escalating, accepted, in_progress, referred or closed"),
    (
        "jenis_kekerasan",
        "SIMFONI kind: fisik, psikis, seksual, eksploitasi, trafficking, penelantaran, lainnya",
    ),
    ("kategori", "the category the flow recorded (e.g. a consultation topic)"),
    ("korban_anak", "ya / tidak when she answered whether the victim is a child"),
    ("pelaku_di_dekat", "ya / tidak when she answered whether the perpetrator was near"),
    ("kelompok_umur", "victim age group (0-5, 6-12, 13-17, 18-24, 25-44, 45-59, 60+), when recorded"),
    ("hubungan_pelaku", "relationship to the perpetrator, when given"),
    ("tempat_kejadian", "where it happened, when recorded"),
    ("kode_wilayah", "region code (province 72, regency 72.71)"),
    ("wilayah", "region name"),
    ("provinsi", "province name"),
    ("layanan", "provider the case was for"),
    ("diterima_pada", "when a counselor accepted it, local time"),
    ("diterima_oleh", "counselor id who accepted it"),
    ("waktu_respons_menit", "minutes from report to acceptance"),
    ("dirujuk_ke", "the provider the case was last referred to"),
    ("jumlah_pesan", "messages relayed between the survivor and her counselor"),
    ("ditutup_pada", "when it was closed, local time"),
];

/// An export that cannot be made.
#[derive(Debug, Error, PartialEq)]
pub enum ExportError {
    /// `--columns` named a column that does not exist.
    #[error("unknown column `{0}`; known: {1}")]
    UnknownColumn(String, String),
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A flow answer recorded with the case, as text (`ya`/`tidak` for yes/no answers).
fn field(record: &CaseRecord, name: &str) -> String {
    let Some(json) = record.case.fields.as_deref() else { return String::new() };
    let Ok(fields) = serde_json::from_str::<serde_json::Value>(json) else { return String::new() };
    match &fields[name]["value"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "ya".to_string(),
        serde_json::Value::Bool(false) => "tidak".to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Object(o) => {
            o.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_string()
        }
        _ => String::new(),
    }
}

/// The SIMFONI PPA kind of violence of a case: what the counselor recorded, else what the flow
/// asked (empty when neither says).
pub fn violence_kind(record: &CaseRecord) -> String {
    match field(record, "violence_kind") {
        given if !given.is_empty() => given,
        _ => {
            simfoni_kind(record.case.category.as_deref().unwrap_or_default()).unwrap_or_default().to_string()
        }
    }
}

fn value(record: &CaseRecord, column: &str, directory: &Directory, offset: i32) -> String {
    let case = &record.case;
    let event = |kind: &str| record.events.iter().find(|e| e.kind == kind);
    let region = case.region_code.as_deref().and_then(|c| directory.regions.get(c));
    match column {
        "kode_kasus" => case.code.clone(),
        "tanggal_lapor" => format_local(record.created_at, offset),
        "prioritas" => case.priority.clone(),
        "status" => case.status.clone(),
        // What the counselor recorded wins over what the flow asked.
        "jenis_kekerasan" => violence_kind(record),
        "kategori" => case.category.clone().unwrap_or_default(),
        "korban_anak" => field(record, "victim_child"),
        "pelaku_di_dekat" => field(record, "perpetrator_present"),
        "kelompok_umur" => field(record, "age_group"),
        "hubungan_pelaku" => field(record, "relationship"),
        "tempat_kejadian" => field(record, "place"),
        "kode_wilayah" => case.region_code.clone().unwrap_or_default(),
        "wilayah" => region.map(|r| r.name.clone()).unwrap_or_default(),
        "provinsi" => region
            .and_then(|r| directory.regions.get(r.province_code()))
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        "layanan" => case
            .provider_id
            .as_deref()
            .map(|id| directory.provider(id).map_or_else(|| id.to_string(), |p| p.name.clone()))
            .unwrap_or_default(),
        "diterima_pada" => event("accepted").map(|e| format_local(e.at, offset)).unwrap_or_default(),
        "diterima_oleh" => event("accepted")
            .and_then(|e| detail(e.detail.as_deref(), "counselor"))
            .unwrap_or_default()
            .to_string(),
        "waktu_respons_menit" => event("accepted")
            .map(|e| format!("{:.1}", (e.at - record.created_at) as f64 / 60_000.0))
            .unwrap_or_default(),
        "dirujuk_ke" => record
            .events
            .iter()
            .rev()
            .filter(|e| e.kind == "transferred")
            .find_map(|e| detail(e.detail.as_deref(), "to_provider"))
            .map(|id| directory.provider(id).map_or_else(|| id.to_string(), |p| p.name.clone()))
            .unwrap_or_default(),
        "jumlah_pesan" => record.events.iter().filter(|e| e.kind == "relayed").count().to_string(),
        "ditutup_pada" => event("closed").map(|e| format_local(e.at, offset)).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Writes the cases as CSV with the given columns (all when empty), times at `offset_hours`.
pub fn export_csv(
    records: &[CaseRecord],
    directory: &Directory,
    columns: &[String],
    offset_hours: i32,
) -> Result<String, ExportError> {
    let known: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
    let chosen: Vec<&str> =
        if columns.is_empty() { known.clone() } else { columns.iter().map(String::as_str).collect() };
    if let Some(bad) = chosen.iter().find(|c| !known.contains(c)) {
        return Err(ExportError::UnknownColumn(bad.to_string(), known.join(", ")));
    }
    let mut out = chosen.join(",");
    out.push('\n');
    for record in records {
        let row: Vec<String> =
            chosen.iter().map(|c| csv_field(&value(record, c, directory, offset_hours))).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok(out)
}
