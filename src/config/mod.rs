//! Configuration: the TOML model, secret expansion, validation with `FILE:LINE:COL: KEY:`
//! errors, and the [`Topology`] the rest of the daemon runs on.
//!
//! [`load`] reads a file, reports every problem it finds (not only the first), and on success
//! returns the validated [`Config`]. Nothing downstream re-reads the raw file.

pub mod access;
pub mod diagnostic;
pub mod document;
pub mod flow;
pub mod model;
pub mod pricing;
pub mod raw;
pub mod remote_write;
pub mod secret;
pub mod topology;
pub mod units;

mod build;

use std::path::Path;

pub use access::{Api, ApiToken, Http, HttpLimits, Scope, Scopes};
pub use diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
pub use flow::{CustomerPrefix, FlowExporter, FlowSettings, Prefix, ProductLinePrefix};
pub use model::{
    AuthProtocol, Billing, Config, Daemon, Email, MailSecurity, MailTransport, PrivacyProtocol,
    ReportSettings, Retention, SnmpCredentials, SnmpProfile, SnmpVersion, StoreBackend,
    StoreSettings, UsmUser, defaults,
};
pub use pricing::{Commit, PricePlan, Pricing, Revenue};
pub use secret::Secret;
pub use topology::{
    AliasLabels, AliasPattern, Customer, Port, PortKey, PortLabels, ProductLine, Route, Site,
    Switch, Topology,
};
pub use units::{BitRate, ByteSize, Duration};

use build::Builder;
use document::Document;

/// A loaded configuration and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Problems that do not stop the daemon (printed by `check`, logged by `run`).
    pub warnings: Diagnostics,
}

/// Reads and validates a configuration file. On failure every error found is returned.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let src = SourceFile::read(path).map_err(|d| Diagnostics::from(vec![d]))?;
    load_source(&src)
}

/// Parses `config` as a configuration file in folder `dir` (secret files are read relative to
/// it) and `rules` as a rule file (against the configuration's topology when it is valid, else
/// an empty one), as `bandwatch check` does, and returns how many errors they gave. For the
/// parser fuzz target and its deterministic test: whatever the bytes, this returns.
pub fn check_text(dir: &Path, config: &str, rules: &str) -> usize {
    let src = SourceFile {
        path: dir.join("bandwatch.toml"),
        text: config.into(),
    };
    let errors = |d: &Diagnostics| d.error_count();
    let (topology, n) = match load_source(&src) {
        Ok(l) => (l.config.topology, 0),
        Err(d) => (Topology::default(), errors(&d)),
    };
    let rules_src = SourceFile {
        path: dir.join("rules.toml"),
        text: rules.into(),
    };
    let (_, diags) = crate::rules::file::parse_source(
        &rules_src,
        &topology,
        &mut std::collections::HashMap::new(),
    );
    n + errors(&diags)
}

/// Validates configuration text already read (the path is used for messages and relative paths).
pub fn load_source(src: &SourceFile) -> Result<Loaded, Diagnostics> {
    let mut doc = Document::parse(src)?;
    let config = Builder::new(&mut doc).build();
    let mut diags = std::mem::take(&mut doc.diags);
    diags.sort();
    match config {
        Some(config) if !diags.has_errors() => Ok(Loaded {
            config,
            warnings: diags,
        }),
        _ => {
            diags.truncate(diagnostic::SHOWN);
            Err(diags)
        }
    }
}
