//! Reference data the engine consults: regions and the provider directory. Both are loaded
//! before a step and passed in, so the engine stays free of IO.

pub mod provider;
pub mod region;

pub use provider::{Provider, ProviderKind, Service};
pub use region::{Region, RegionMatch, Regions};

/// Regions and providers.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Provinces and regencies/cities.
    pub regions: Regions,
    /// Service providers.
    pub providers: Vec<Provider>,
}

/// The directory in use: replaced whole when the stored providers change while the server runs
/// (an import through the API, or another instance's), read as a snapshot by each user.
#[derive(Debug, Clone)]
pub struct LiveDirectory(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Directory>>>);

impl LiveDirectory {
    /// Starts with `directory`.
    pub fn new(directory: std::sync::Arc<Directory>) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(directory)))
    }

    /// The directory now; it stays whole while the caller holds it.
    pub fn get(&self) -> std::sync::Arc<Directory> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Puts `directory` in use from now on.
    pub fn replace(&self, directory: std::sync::Arc<Directory>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = directory;
    }

    /// Puts `providers` in use with the same regions, unless they are the ones in use;
    /// returns whether anything changed.
    pub fn update_providers(&self, providers: Vec<Provider>) -> bool {
        let current = self.get();
        if current.providers == providers {
            return false;
        }
        self.replace(std::sync::Arc::new(Directory { regions: current.regions.clone(), providers }));
        true
    }
}

impl From<std::sync::Arc<Directory>> for LiveDirectory {
    fn from(directory: std::sync::Arc<Directory>) -> Self {
        Self::new(directory)
    }
}

/// Where a person is: a shared pin or a named region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Place<'a> {
    /// Latitude and longitude.
    Pin(f64, f64),
    /// A region code (province `72` or regency `72.71`).
    Region(&'a str),
}

/// A provider found for a place, with its distance when the place is a pin.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<'a> {
    /// The provider.
    pub provider: &'a Provider,
    /// Distance in kilometres from the pin.
    pub distance_km: Option<f64>,
}

/// Providers farther than this from a pin are not "near".
pub const NEAR_KM: f64 = 250.0;

/// Great-circle distance in kilometres.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h =
        ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

impl Directory {
    /// Regions only, no providers (before a directory is imported).
    pub fn with_regions(regions: Regions) -> Self {
        Self { regions, providers: Vec::new() }
    }

    /// A provider by id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Providers for a place, closest first, at most `limit`: by distance from a pin (within
    /// `NEAR_KM`), or for a region its own providers, then its province's. A national line
    /// closes the list when there is room, so nobody is left with nothing.
    pub fn nearest(&self, place: Place<'_>, service: Option<Service>, limit: usize) -> Vec<Found<'_>> {
        let offers = |p: &&Provider| service.is_none_or(|s| p.offers(s));
        let mut found: Vec<Found<'_>> = match place {
            Place::Pin(lat, lon) => {
                let mut near: Vec<Found<'_>> = self
                    .providers
                    .iter()
                    .filter(offers)
                    .filter(|p| p.kind != ProviderKind::National)
                    .filter_map(|p| {
                        let d = distance_km((lat, lon), p.location?);
                        (d <= NEAR_KM).then_some(Found { provider: p, distance_km: Some(d) })
                    })
                    .collect();
                near.sort_by(|a, b| {
                    a.distance_km.partial_cmp(&b.distance_km).unwrap_or(std::cmp::Ordering::Equal)
                });
                near
            }
            Place::Region(code) => {
                let province = code.split('.').next().unwrap_or(code);
                // Rank: the place's own providers, then the province's own UPTD PPA, then other
                // providers elsewhere in the province.
                let rank = |p: &Provider| -> Option<u8> {
                    if p.kind == ProviderKind::National {
                        // The national line closes the list below, never in the middle.
                        None
                    } else if p.region == code {
                        Some(0)
                    } else if p.region == province {
                        Some(1)
                    } else if p.region.split('.').next() == Some(province) && !p.region.is_empty() {
                        Some(2)
                    } else {
                        None
                    }
                };
                let mut local: Vec<(u8, &Provider)> =
                    self.providers.iter().filter(offers).filter_map(|p| rank(p).map(|r| (r, p))).collect();
                local.sort_by(|a, b| {
                    (a.0, a.1.kind != ProviderKind::UptdPpaRegency, &a.1.name).cmp(&(
                        b.0,
                        b.1.kind != ProviderKind::UptdPpaRegency,
                        &b.1.name,
                    ))
                });
                local.into_iter().map(|(_, p)| Found { provider: p, distance_km: None }).collect()
            }
        };
        found.truncate(limit);
        if found.len() < limit
            && let Some(national) =
                self.providers.iter().filter(offers).find(|p| p.kind == ProviderKind::National)
        {
            found.push(Found { provider: national, distance_km: None });
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::provider::{Contacts, Hours, TimeZone};
    use super::*;

    fn provider(
        id: &str,
        kind: ProviderKind,
        region: &str,
        services: &[Service],
        at: Option<(f64, f64)>,
    ) -> Provider {
        Provider {
            id: id.into(),
            name: id.into(),
            kind,
            region: region.into(),
            location: at,
            address: None,
            services: services.to_vec(),
            hours: Hours { tz: TimeZone::Wita, always: true, slots: Vec::new() },
            contacts: Contacts::default(),
            counselors: Vec::new(),
            show_counselor_names: true,
        }
    }

    fn directory() -> Directory {
        use ProviderKind::*;
        use Service::*;
        let providers = vec![
            provider("national", National, "72", &[Pengaduan], None),
            provider("province", UptdPpaProvince, "72", &[Pengaduan, Konsultasi], Some((-0.90, 119.87))),
            provider("city", UptdPpaRegency, "72.71", &[Pengaduan, Konsultasi], Some((-0.89, 119.86))),
            provider("ngo", Lplpp, "72.71", &[Konsultasi, Pelatihan], Some((-0.91, 119.88))),
            provider("other-regency", UptdPpaRegency, "72.10", &[Pengaduan], Some((-1.05, 119.95))),
            provider("far", UptdPpaRegency, "53.71", &[Pengaduan], Some((-10.17, 123.6))),
        ];
        Directory { regions: Regions::embedded().unwrap(), providers }
    }

    fn ids(found: &[Found<'_>]) -> Vec<String> {
        found.iter().map(|f| f.provider.id.clone()).collect()
    }

    #[test]
    fn a_region_lists_its_own_then_the_province_then_the_national_line_once() {
        let d = directory();
        assert_eq!(
            ids(&d.nearest(Place::Region("72.71"), None, 4)),
            ["city", "ngo", "province", "other-regency"]
        );
        assert_eq!(
            ids(&d.nearest(Place::Region("72.71"), Some(Service::Pengaduan), 4)),
            ["city", "province", "other-regency", "national"]
        );
        assert_eq!(ids(&d.nearest(Place::Region("72"), None, 2)), ["province", "city"]);
    }

    #[test]
    fn the_national_line_obeys_the_service_filter() {
        let d = directory();
        assert_eq!(ids(&d.nearest(Place::Region("72.71"), Some(Service::Pelatihan), 4)), ["ngo"]);
        assert_eq!(ids(&d.nearest(Place::Region("53"), Some(Service::Pengaduan), 4)), ["far", "national"]);
    }

    #[test]
    fn a_pin_lists_by_distance_within_reach() {
        let d = directory();
        let found = d.nearest(Place::Pin(-0.895, 119.862), None, 4);
        assert_eq!(ids(&found), ["city", "province", "ngo", "other-regency"]);
        assert!(found[0].distance_km.unwrap() < 1.0);
        assert_eq!(
            ids(&d.nearest(Place::Pin(5.5, 95.3), None, 4)),
            ["national"],
            "nothing within reach of Aceh"
        );
        let km = distance_km((-0.8917, 119.8707), (-10.1772, 123.6070));
        assert!((1100.0..1140.0).contains(&km), "Palu to Kupang is about 1,120 km, got {km}");
    }
}
