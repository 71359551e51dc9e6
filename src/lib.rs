//! Teduh: a helpline gateway for women's protection services in Indonesia.

pub mod access;
pub mod api;
pub mod app;
pub mod bench;
pub mod case;
pub mod channel;
pub mod clock;
pub mod config;
pub mod console;
pub mod coord;
pub mod directory;
pub mod dispatch;
pub mod escalation;
pub mod flow;
pub mod http;
pub mod i18n;
pub mod limits;
pub mod metrics;
pub mod retention;
pub mod runtime;
pub mod server;
pub mod store;
pub mod text;
pub mod vault;
