//! Service providers (UPTD PPA, LPLPP, the national SAPA 129 line): the directory format,
//! its validation with line numbers, and the stored form.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::region::Regions;

/// What kind of institution a provider is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// UPTD PPA of a province.
    UptdPpaProvince,
    /// UPTD PPA of a regency or city.
    UptdPpaRegency,
    /// A women's empowerment service provider (LPLPP).
    Lplpp,
    /// A national line (SAPA 129), the last resort.
    National,
}

impl ProviderKind {
    const NAMES: [(&'static str, ProviderKind); 4] = [
        ("uptd_ppa_province", ProviderKind::UptdPpaProvince),
        ("uptd_ppa_regency", ProviderKind::UptdPpaRegency),
        ("lplpp", ProviderKind::Lplpp),
        ("national", ProviderKind::National),
    ];

    /// The name used in directory files and Fluent ids (`provider-kind-<name>`).
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(_, k)| *k == self).map_or("", |(n, _)| n)
    }
}

/// Services a provider offers (Permen PPPA 2/2022 for UPTD PPA; information, consultation,
/// training and networking for LPLPP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Complaints (pengaduan masyarakat).
    Pengaduan,
    /// Outreach to victims (penjangkauan korban).
    Penjangkauan,
    /// Case management (pengelolaan kasus).
    PengelolaanKasus,
    /// Temporary shelter (penampungan sementara).
    Penampungan,
    /// Mediation (never for sexual violence, UU TPKS Pasal 23).
    Mediasi,
    /// Accompaniment (pendampingan korban).
    Pendampingan,
    /// Information.
    Informasi,
    /// Consultation.
    Konsultasi,
    /// Training.
    Pelatihan,
    /// Networking.
    Jejaring,
}

impl Service {
    /// Every service with its name in files.
    pub const ALL: [(&'static str, Service); 10] = [
        ("pengaduan", Service::Pengaduan),
        ("penjangkauan", Service::Penjangkauan),
        ("pengelolaan_kasus", Service::PengelolaanKasus),
        ("penampungan", Service::Penampungan),
        ("mediasi", Service::Mediasi),
        ("pendampingan", Service::Pendampingan),
        ("informasi", Service::Informasi),
        ("konsultasi", Service::Konsultasi),
        ("pelatihan", Service::Pelatihan),
        ("jejaring", Service::Jejaring),
    ];

    /// Looks a service up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// The service's name in files and Fluent ids (`service-<name>`).
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("", |(n, _)| n)
    }
}

/// Indonesian time zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeZone {
    /// UTC+7.
    #[serde(rename = "WIB")]
    Wib,
    /// UTC+8.
    #[serde(rename = "WITA")]
    Wita,
    /// UTC+9.
    #[serde(rename = "WIT")]
    Wit,
}

impl TimeZone {
    /// Offset from UTC in hours.
    pub fn utc_offset_hours(self) -> i32 {
        match self {
            TimeZone::Wib => 7,
            TimeZone::Wita => 8,
            TimeZone::Wit => 9,
        }
    }

    /// The abbreviation people know.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeZone::Wib => "WIB",
            TimeZone::Wita => "WITA",
            TimeZone::Wit => "WIT",
        }
    }
}

/// Opening hours: either always open, or time slots on days of the week, in one time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hours {
    /// Time zone of the times.
    pub tz: TimeZone,
    /// Open day and night, every day.
    #[serde(default)]
    pub always: bool,
    /// Slots such as Monday to Friday 08:00-16:00.
    #[serde(default)]
    pub slots: Vec<Slot>,
}

/// An opening slot: first and last day (0 = Monday .. 6 = Sunday), from and to in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// First day, 0 = Monday.
    pub from_day: u8,
    /// Last day, inclusive.
    pub to_day: u8,
    /// Opening time in minutes after midnight.
    pub open: u16,
    /// Closing time in minutes after midnight.
    pub close: u16,
}

/// Public contacts of a provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    /// Telephone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// WhatsApp number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Web site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// How a counselor is reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounselorChannels {
    /// Telegram chat id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<String>,
    /// WhatsApp number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<String>,
    /// Number for SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
}

/// A counselor of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counselor {
    /// Unique id.
    pub id: String,
    /// Name shown to survivors when she takes a case (as the provider allows).
    pub name: String,
    /// Where notifications go.
    pub channels: CounselorChannels,
}

/// A service provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// Unique id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Kind of institution.
    pub kind: ProviderKind,
    /// Region code it serves (`72`, `72.71`); empty for a national line.
    pub region: String,
    /// Coordinates, for nearest-first ordering.
    pub location: Option<(f64, f64)>,
    /// Street address.
    pub address: Option<String>,
    /// Services offered.
    pub services: Vec<Service>,
    /// Opening hours.
    pub hours: Hours,
    /// Public contacts.
    pub contacts: Contacts,
    /// Counselors.
    pub counselors: Vec<Counselor>,
    /// Whether survivors are told their counselor's name (else only the provider's).
    #[serde(default = "shown")]
    pub show_counselor_names: bool,
}

fn shown() -> bool {
    true
}

impl Provider {
    /// Whether the provider offers `service`.
    pub fn offers(&self, service: Service) -> bool {
        self.services.contains(&service)
    }
}

// ---- The authored file format -------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryDoc {
    providers: Vec<Spanned<ProviderDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderDoc {
    id: Spanned<String>,
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    region: Option<Spanned<String>>,
    #[serde(default)]
    location: Option<Spanned<LocationDoc>>,
    #[serde(default)]
    address: Option<String>,
    services: Vec<Spanned<String>>,
    hours: Spanned<HoursDoc>,
    #[serde(default)]
    contacts: Option<Spanned<Contacts>>,
    #[serde(default)]
    counselors: Vec<Spanned<CounselorDoc>>,
    #[serde(default = "shown")]
    show_counselor_names: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationDoc {
    lat: f64,
    lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursDoc {
    tz: Spanned<String>,
    #[serde(default)]
    always: bool,
    #[serde(default)]
    open: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CounselorDoc {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    telegram: Option<Spanned<String>>,
    #[serde(default)]
    whatsapp: Option<Spanned<String>>,
    #[serde(default)]
    sms: Option<Spanned<String>>,
}

/// A problem in a directory file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryError {
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

// Indonesia spans roughly 6°N to 11°S and 95°E to 141°E; anything far outside is a typo.
const LAT_RANGE: std::ops::RangeInclusive<f64> = -12.0..=7.0;
const LON_RANGE: std::ops::RangeInclusive<f64> = 94.0..=142.0;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_minutes(t: &str) -> Option<u16> {
    let (h, m) = t.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// Parses `mon-fri 08:00-16:00` or `sat 08:00-12:00`.
fn parse_slot(text: &str) -> Option<Slot> {
    let (days, times) = text.trim().split_once(' ')?;
    let (first, last) = days.split_once('-').unwrap_or((days, days));
    let day = |d: &str| DAYS.iter().position(|x| *x == d.trim().to_lowercase()).map(|p| p as u8);
    let (from_day, to_day) = (day(first)?, day(last)?);
    let (open, close) = times.trim().split_once('-')?;
    let (open, close) = (parse_minutes(open)?, parse_minutes(close)?);
    (from_day <= to_day && open < close).then_some(Slot { from_day, to_day, open, close })
}

/// Indonesian numbers as people and gateways write them: `+62…` or `08…`, digits only after.
fn valid_phone(number: &str) -> bool {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let rest = digits.strip_prefix("+62").or_else(|| digits.strip_prefix('0'));
    rest.is_some_and(|r| (6..=13).contains(&r.len()) && r.chars().all(|c| c.is_ascii_digit()))
}

/// A national short line such as 129 or 021-129.
fn n_is_short_line(number: Option<&str>) -> bool {
    number.is_some_and(|n| {
        let digits = n.chars().filter(char::is_ascii_digit).count();
        (3..=8).contains(&digits) && n.chars().all(|c| c.is_ascii_digit() || c == '-')
    })
}

/// Telegram chat ids are integers (negative for groups).
fn valid_chat_id(id: &str) -> bool {
    let digits = id.strip_prefix('-').unwrap_or(id);
    !digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit())
}

fn line<T>(s: &Spanned<T>) -> u64 {
    s.referenced.line()
}

/// Parses and validates a directory file; either every provider is valid or every problem is
/// returned, so an import never half-happens.
pub fn parse_directory(text: &str, regions: &Regions) -> Result<Vec<Provider>, Vec<DirectoryError>> {
    let doc: DirectoryDoc =
        serde_saphyr::from_str_with_options(text, serde_saphyr::options! { with_snippet: false }).map_err(
            |e| {
                let message = e.to_string();
                let message = message.lines().next().unwrap_or_default();
                let message = message.rfind(" at line ").map_or(message, |i| &message[..i]).to_string();
                vec![DirectoryError { line: e.location().map_or(0, |l| l.line()), message }]
            },
        )?;
    let mut errors = Vec::new();
    let mut err = |line: u64, message: String| errors.push(DirectoryError { line, message });
    let mut ids = HashSet::new();
    let mut counselor_ids = HashSet::new();
    let mut providers = Vec::new();
    for p in &doc.providers {
        let p = &p.value;
        let at = line(&p.id);
        if p.id.value.trim().is_empty() {
            err(at, "provider id is empty".into());
        } else if !ids.insert(p.id.value.clone()) {
            err(at, format!("duplicate provider id `{}`", p.id.value));
        }
        if p.name.value.trim().is_empty() {
            err(line(&p.name), format!("provider `{}` has no name", p.id.value));
        }
        let kind = ProviderKind::NAMES.iter().find(|(n, _)| *n == p.kind.value).map(|(_, k)| *k);
        if kind.is_none() {
            err(
                line(&p.kind),
                format!(
                    "unknown kind `{}`; use uptd_ppa_province, uptd_ppa_regency, lplpp or national",
                    p.kind.value
                ),
            );
        }
        // An unknown kind still gets every other check, so one run reports everything.
        let region = match (&p.region, kind) {
            (None, Some(ProviderKind::National)) => String::new(),
            (None, _) => {
                err(at, format!("provider `{}` needs a `region` code", p.id.value));
                String::new()
            }
            (Some(r), kind) => {
                match regions.get(&r.value) {
                    None => err(line(r), format!("unknown region code `{}`", r.value)),
                    Some(found) => {
                        let is_province = found.kind.is_none();
                        if kind == Some(ProviderKind::UptdPpaProvince) && !is_province {
                            err(
                                line(r),
                                format!("a province UPTD PPA needs a province code, not `{}`", r.value),
                            );
                        }
                        if kind == Some(ProviderKind::UptdPpaRegency) && is_province {
                            err(
                                line(r),
                                format!("a regency UPTD PPA needs a regency/city code, not `{}`", r.value),
                            );
                        }
                    }
                }
                r.value.clone()
            }
        };
        let location = p.location.as_ref().and_then(|l| {
            let (lat, lon) = (l.value.lat, l.value.lon);
            if LAT_RANGE.contains(&lat) && LON_RANGE.contains(&lon) {
                Some((lat, lon))
            } else {
                err(
                    line(l),
                    format!("coordinates {lat}, {lon} are not in Indonesia (lat -12..7, lon 94..142)"),
                );
                None
            }
        });
        let mut services = Vec::new();
        for s in &p.services {
            match Service::from_name(&s.value) {
                Some(service) => services.push(service),
                None => {
                    let known: Vec<&str> = Service::ALL.iter().map(|(n, _)| *n).collect();
                    err(line(s), format!("unknown service `{}`; known: {}", s.value, known.join(", ")));
                }
            }
        }
        if p.services.is_empty() {
            err(at, format!("provider `{}` lists no services", p.id.value));
        }
        let tz = match p.hours.value.tz.value.as_str() {
            "WIB" => TimeZone::Wib,
            "WITA" => TimeZone::Wita,
            "WIT" => TimeZone::Wit,
            other => {
                err(line(&p.hours.value.tz), format!("unknown time zone `{other}`; use WIB, WITA or WIT"));
                TimeZone::Wib
            }
        };
        let mut slots = Vec::new();
        for slot in &p.hours.value.open {
            match parse_slot(&slot.value) {
                Some(s) => slots.push(s),
                None => err(
                    line(slot),
                    format!("opening hours `{}` should look like `mon-fri 08:00-16:00`", slot.value),
                ),
            }
        }
        if !p.hours.value.always && p.hours.value.open.is_empty() {
            err(line(&p.hours), "hours need `always: true` or at least one `open` slot".into());
        }
        let contacts = p.contacts.as_ref().map(|c| c.value.clone()).unwrap_or_default();
        let contacts_line = p.contacts.as_ref().map_or(at, line);
        for (name, number) in [("phone", &contacts.phone), ("whatsapp", &contacts.whatsapp)] {
            // Short national lines such as 129 are valid telephone contacts.
            let short_line = name == "phone" && n_is_short_line(number.as_deref());
            if let Some(n) = number
                && !(valid_phone(n) || short_line)
            {
                err(contacts_line, format!("provider `{}`: {name} `{n}` is not a phone number", p.id.value));
            }
        }
        let mut counselors = Vec::new();
        for c in &p.counselors {
            let c = &c.value;
            if c.id.value.trim().is_empty() {
                err(line(&c.id), "counselor id is empty".into());
            } else if !counselor_ids.insert(c.id.value.clone()) {
                err(line(&c.id), format!("duplicate counselor id `{}`", c.id.value));
            }
            if c.name.trim().is_empty() {
                err(line(&c.id), format!("counselor `{}` has no name", c.id.value));
            }
            for number in [&c.whatsapp, &c.sms].into_iter().flatten() {
                if !valid_phone(&number.value) {
                    err(
                        line(number),
                        format!("counselor `{}`: `{}` is not a phone number", c.id.value, number.value),
                    );
                }
            }
            if let Some(chat) = &c.telegram
                && !valid_chat_id(&chat.value)
            {
                err(
                    line(chat),
                    format!(
                        "counselor `{}`: telegram `{}` is not a chat id (digits)",
                        c.id.value, chat.value
                    ),
                );
            }
            if c.telegram.is_none() && c.whatsapp.is_none() && c.sms.is_none() {
                err(
                    line(&c.id),
                    format!("counselor `{}` has no telegram, whatsapp or sms to be reached on", c.id.value),
                );
            }
            counselors.push(Counselor {
                id: c.id.value.clone(),
                name: c.name.clone(),
                channels: CounselorChannels {
                    telegram: c.telegram.as_ref().map(|s| s.value.clone()),
                    whatsapp: c.whatsapp.as_ref().map(|s| s.value.clone()),
                    sms: c.sms.as_ref().map(|s| s.value.clone()),
                },
            });
        }
        let Some(kind) = kind else { continue };
        providers.push(Provider {
            id: p.id.value.clone(),
            name: p.name.value.clone(),
            kind,
            region,
            location,
            address: p.address.clone(),
            services,
            hours: Hours { tz, always: p.hours.value.always, slots },
            contacts,
            counselors,
            show_counselor_names: p.show_counselor_names,
        });
    }
    if doc.providers.is_empty() {
        err(0, "the directory lists no providers; importing it would empty the stored directory".into());
    }
    if errors.is_empty() {
        Ok(providers)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Reads and validates a directory file.
pub fn read_directory(path: &Path, regions: &Regions) -> Result<Vec<Provider>, Vec<DirectoryError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![DirectoryError { line: 0, message: format!("cannot read {}: {e}", path.display()) }]
    })?;
    parse_directory(&text, regions)
}
