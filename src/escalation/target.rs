//! Which provider a case goes to: the nearest that offers the service and has someone on call
//! now, else by region (regency/city, then province), else the national line. The reason is
//! kept for the case timeline, so a provider can see why a case went elsewhere.

use crate::directory::{Directory, Found, Place, Provider, ProviderKind, Service};
use crate::escalation::roster::{Shift, on_call};

/// The provider chosen for a case, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Target<'a> {
    /// The provider.
    pub provider: &'a Provider,
    /// Why it was chosen, for the case timeline (no personal data).
    pub reason: String,
}

/// Providers considered before giving up on the local ones.
const CANDIDATES: usize = 8;

fn staffed(shifts: &[Shift], provider: &Provider, now_ms: i64) -> bool {
    // A national line is staffed around the clock by definition: it is the last resort.
    provider.kind == ProviderKind::National || !on_call(shifts, provider, now_ms).is_empty()
}

/// Chooses the provider for a case at `place` needing `service`, at instant `now_ms`.
pub fn choose<'a>(
    directory: &'a Directory,
    shifts: &[Shift],
    place: Place<'_>,
    service: Option<Service>,
    now_ms: i64,
) -> Option<Target<'a>> {
    let candidates: Vec<Found<'a>> = directory.nearest(place, service, CANDIDATES);
    let mut skipped: Vec<&str> = Vec::new();
    for found in &candidates {
        if staffed(shifts, found.provider, now_ms) {
            let how = match (found.distance_km, found.provider.kind) {
                (_, ProviderKind::National) => "national line".to_string(),
                (Some(km), _) => format!("nearest with someone on call ({km:.0} km)"),
                (None, _) => "for the region, with someone on call".to_string(),
            };
            let reason = if skipped.is_empty() {
                how
            } else {
                format!("{how}; nobody on call at {}", skipped.join(", "))
            };
            return Some(Target { provider: found.provider, reason });
        }
        skipped.push(&found.provider.id);
    }
    // Nobody on call anywhere near and no national line in the directory: the nearest still
    // gets the case, so it is not lost, and the timeline says so.
    candidates.first().map(|f| Target {
        provider: f.provider,
        reason: format!("nobody on call at {}; sent to the nearest anyway", skipped.join(", ")),
    })
}
