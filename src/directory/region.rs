//! Indonesian provinces and regencies/cities, and a forgiving matcher for the names people type:
//! "palu", "Kota Palu", "kab. sigi", small typos. Data: `data/regions/` (ODbL, see its README).

use thiserror::Error;

use crate::text::fold;

const PROVINCES_CSV: &str = include_str!("../../data/regions/provinces.csv");
const REGENCIES_CSV: &str = include_str!("../../data/regions/regencies.csv");

/// Whether a regency-level region is a kabupaten or a kota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegencyKind {
    /// Kabupaten (regency).
    Kabupaten,
    /// Kota (city).
    Kota,
}

/// A province or a regency/city.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Official code: `72` for a province, `72.71` for a regency or city.
    pub code: String,
    /// Display name, e.g. "Kota Palu" or "Sulawesi Tengah".
    pub name: String,
    /// Kabupaten or kota; `None` for a province.
    pub kind: Option<RegencyKind>,
    /// Name without its kind, folded for matching ("palu").
    base: String,
}

impl Region {
    /// The province code of this region (itself for a province).
    pub fn province_code(&self) -> &str {
        self.code.split('.').next().unwrap_or(&self.code)
    }
}

/// The result of matching a typed name.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionMatch<'a> {
    /// Exactly one region fits.
    One(&'a Region),
    /// Several fit equally well: ask which one.
    Several(Vec<&'a Region>),
    /// Nothing close enough.
    None,
}

/// The region data could not be read (a build with broken embedded files).
#[derive(Debug, Error)]
#[error("region data line {line}: {message}")]
pub struct RegionDataError {
    line: usize,
    message: String,
}

/// Every province and regency/city.
#[derive(Debug, Clone)]
pub struct Regions {
    regions: Vec<Region>,
}

/// At most this many candidates are offered when a name is ambiguous.
pub const MAX_CANDIDATES: usize = 6;

fn title_case(upper: &str) -> String {
    upper
        .split_whitespace()
        .map(|w| {
            let lower = w.to_lowercase();
            match lower.as_str() {
                "dki" => "DKI".to_string(),
                _ => {
                    let mut c = lower.chars();
                    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a typed or official name into its kind (if said) and the folded rest.
fn split_kind(folded: &str) -> (Option<RegencyKind>, bool, &str) {
    const PREFIXES: &[(&str, Option<RegencyKind>, bool)] = &[
        ("kabupaten administrasi ", Some(RegencyKind::Kabupaten), false),
        ("kota administrasi ", Some(RegencyKind::Kota), false),
        ("kabupaten ", Some(RegencyKind::Kabupaten), false),
        ("kab ", Some(RegencyKind::Kabupaten), false),
        ("kotamadya ", Some(RegencyKind::Kota), false),
        ("kodya ", Some(RegencyKind::Kota), false),
        ("kota ", Some(RegencyKind::Kota), false),
        ("provinsi ", None, true),
        ("propinsi ", None, true),
        ("prov ", None, true),
    ];
    for (prefix, kind, province) in PREFIXES {
        if let Some(rest) = folded.strip_prefix(prefix) {
            return (*kind, *province, rest.trim());
        }
    }
    (None, false, folded)
}

impl Regions {
    /// The regions built into the binary.
    pub fn embedded() -> Result<Self, RegionDataError> {
        Self::parse(PROVINCES_CSV, REGENCIES_CSV)
    }

    /// Parses the two CSV files (`code,name` and `code,province_code,name`).
    pub fn parse(provinces: &str, regencies: &str) -> Result<Self, RegionDataError> {
        let mut regions = Vec::new();
        for (i, line) in provinces.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
            let (code, name) = line
                .split_once(',')
                .ok_or_else(|| RegionDataError { line: i + 1, message: "expected code,name".into() })?;
            let name = title_case(name.trim());
            regions.push(Region { code: code.trim().to_string(), base: fold(&name), name, kind: None });
        }
        for (i, line) in regencies.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
            let mut parts = line.splitn(3, ',');
            let (Some(code), Some(_province), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(RegionDataError {
                    line: i + 1,
                    message: "expected code,province_code,name".into(),
                });
            };
            let folded = fold(name);
            let (kind, _, base) = split_kind(&folded);
            let Some(kind) = kind else {
                return Err(RegionDataError {
                    line: i + 1,
                    message: format!("`{name}` is neither KABUPATEN nor KOTA"),
                });
            };
            let display = match kind {
                RegencyKind::Kabupaten => format!("Kabupaten {}", title_case(base)),
                RegencyKind::Kota => format!("Kota {}", title_case(base)),
            };
            regions.push(Region {
                code: code.trim().to_string(),
                name: display,
                kind: Some(kind),
                base: base.to_string(),
            });
        }
        Ok(Self { regions })
    }

    /// A region by code.
    pub fn get(&self, code: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.code == code)
    }

    /// Every region, provinces first.
    pub fn all(&self) -> &[Region] {
        &self.regions
    }

    /// Matches a typed name against regencies, cities and provinces.
    pub fn find(&self, typed: &str) -> RegionMatch<'_> {
        let folded = fold(typed);
        let (kind, province_only, base) = split_kind(&folded);
        if base.is_empty() {
            return RegionMatch::None;
        }
        // Short names allow no typo ("palu" must not match "pulau"), longer ones one or two.
        let length = base.chars().count();
        let allowed = match length {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        let mut best = usize::MAX;
        let mut found: Vec<&Region> = Vec::new();
        for region in &self.regions {
            let fits_kind = match (kind, region.kind, province_only) {
                (_, Some(_), true) => false,
                (Some(wanted), Some(k), _) => wanted == k,
                (Some(_), None, _) => false,
                _ => true,
            };
            if !fits_kind {
                continue;
            }
            // The distance is at least the difference in length: checking that first keeps a
            // long hostile text from costing an edit distance against every region.
            if region.base.chars().count().abs_diff(length) > allowed {
                continue;
            }
            let distance = strsim::damerau_levenshtein(base, &region.base);
            if distance > allowed || distance > best {
                continue;
            }
            if distance < best {
                best = distance;
                found.clear();
            }
            found.push(region);
        }
        if found.is_empty() {
            // "jakarta" is no region's whole name, but part of several: offer them.
            let with_space = format!("{base} ");
            let suffix = format!(" {base}");
            found = self
                .regions
                .iter()
                .filter(|r| (r.kind.is_none() || !province_only) && (kind.is_none() || r.kind == kind))
                .filter(|r| r.base.starts_with(&with_space) || r.base.ends_with(&suffix))
                .collect();
        }
        match found.len() {
            0 => RegionMatch::None,
            1 => RegionMatch::One(found[0]),
            _ => {
                // "Kupang" names a city, a regency and nothing else: ask which. Cities first, as
                // people most often mean the city; the province comes last.
                found.sort_by_key(|r| (r.kind.is_none(), r.kind != Some(RegencyKind::Kota), r.code.clone()));
                found.truncate(MAX_CANDIDATES);
                RegionMatch::Several(found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_has_every_province_and_regency() {
        let r = Regions::embedded().unwrap();
        assert_eq!(r.all().iter().filter(|x| x.kind.is_none()).count(), 38);
        assert_eq!(r.all().iter().filter(|x| x.kind.is_some()).count(), 514);
        assert_eq!(r.get("72.71").unwrap().name, "Kota Palu");
        assert_eq!(r.get("31").unwrap().name, "DKI Jakarta");
        assert_eq!(r.get("31.71").unwrap().name, "Kota Jakarta Pusat");
        assert_eq!(r.get("72.71").unwrap().province_code(), "72");
    }
}
