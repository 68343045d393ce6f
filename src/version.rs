//! The version the binary reports (`--version`, `bandwatch_build_info`): the crate version and
//! the git revision it was built from, which `build.rs` reads from git at build time
//! (`BANDWATCH_GIT_REVISION` in the environment wins, for builds outside a git checkout;
//! `unknown` when neither is there).

/// The git revision (short commit hash) the binary was built from, or `unknown`.
pub const REVISION: &str = env!("BANDWATCH_GIT_REVISION");

/// The crate version from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `bandwatch --version` prints after the name: `0.1.0 (git 1a2b3c4d5e6f)`.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("BANDWATCH_GIT_REVISION"),
    ")"
);
