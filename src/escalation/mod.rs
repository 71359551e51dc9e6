//! Escalation to on-call counselors: who is on call (rosters) and how a case climbs from the
//! primary counselor to SAPA 129 (policies).

pub mod action;
pub mod address;
pub mod counselor;
pub mod policy;
pub mod roster;
pub mod run;
pub mod target;
