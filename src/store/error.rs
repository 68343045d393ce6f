//! Errors of the store: every one names the database file it concerns.

use std::path::PathBuf;

/// What went wrong in the store, and with which file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation on the database file.
    #[error("{path}: {context}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer bandwatch; it is left untouched.
    #[error(
        "{path}: the database has schema version {found}, but this bandwatch knows only up to \
         version {supported}; it was written by a newer bandwatch. Upgrade bandwatch or point \
         data_dir elsewhere; the file was not modified"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// A file-system operation on the data directory failed.
    #[error("{path}: {context}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The database file does not exist (readers never create one).
    #[error("{path}: no database here yet (it is created by `bandwatch run`)")]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// A write through a store opened read-only (`bandwatch report`, `query`, `backtest`).
    #[error("{path}: the database was opened read-only")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// A stored value that cannot be read back or written (JSON of a notice or matchers).
    #[error("{path}: {context}: {reason}")]
    Encoding {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The writer thread is gone (it was shut down, or it panicked).
    #[error("the store writer for {path} has stopped")]
    WriterGone {
        /// The database file.
        path: PathBuf,
    },
    /// A series that the store does not hold.
    #[error("{path}: no stored series for {entity}")]
    UnknownSeries {
        /// The database file.
        path: PathBuf,
        /// The entity asked for, as `kind:name`.
        entity: String,
    },
    /// PostgreSQL refused an operation, or could not be reached.
    #[error("{target}: {context}: {source}")]
    Postgres {
        /// Where: `postgresql user@host:port/dbname` (never the password).
        target: String,
        /// What the store was doing.
        context: &'static str,
        /// The client's or server's error.
        #[source]
        source: postgres::Error,
    },
    /// The PostgreSQL schema was written by a newer bandwatch; it is left untouched.
    #[error(
        "{target}: the database has schema version {found}, but this bandwatch knows only up to \
         version {supported}; it was written by a newer bandwatch. Upgrade bandwatch; nothing \
         was modified"
    )]
    PostgresTooNew {
        /// Where.
        target: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A fenced write by a holder whose lease was taken over or has lapsed: refused.
    #[error("lease {name} with fencing token {token} is no longer held; the write was refused")]
    LeaseLost {
        /// The lease's name.
        name: String,
        /// The stale holder's token.
        token: i64,
    },
    /// A query that cannot be answered as asked.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
}

/// Adds the file and a context to a SQLite result.
pub(crate) trait SqlContext<T> {
    /// Wraps an error with the file and what the store was doing.
    fn ctx(self, path: &std::path::Path, context: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, path: &std::path::Path, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            context,
            source,
        })
    }
}
