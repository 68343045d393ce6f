//! HTTP: `/metrics` (Prometheus text exposition), `/healthz`, the JSON API and (later) the
//! status page, served by axum on `daemon.listen`. Reads what other stages publish; never
//! polls, writes or evaluates anything itself.

pub mod auth;
pub mod exposition;
pub mod listener;
pub mod live;
pub mod maintenance;
pub mod metrics;
pub mod reload;
pub mod routes;
pub mod server;
pub mod silences;
pub mod sources;
pub mod status;
pub mod usage;
pub mod web_config;

pub use live::LiveView;
pub use metrics::MetricsSource;
pub use server::{AppState, Health, StoreView, bind, serve};
