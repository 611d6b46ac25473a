//! voucher-settle: quarterly settlement of the Guangxi manufacturing service
//! vouchers (服务券兑付结算), as `docs/RULES.md` describes.
//!
//! - `rules`: the settlement rules as pure functions and plain types.
//! - `engine`: a batch run fast under those rules (parallel checks, the
//!   sequential allocation pass, memory tricks); it defines no rule.
//! - `ingest` (input files -> tables), `job` (job and policy files),
//!   `ledger` (the append-only store), `report` (CSV, workbook, HTML),
//!   `output` (files written and checksummed), `batch` (one batch from
//!   tables to files, shared by `run` and `verify`), `cmd` (one file per
//!   subcommand).
//! - Leaves that every layer may use: `schema` (the columns of every table),
//!   `record`, `checksum`, `error`, `direct_io`, `crash`. Only `frame`
//!   touches polars.

/// An identifier (contract, USCC, product) or other short text: kept inline
/// up to 24 bytes, so a million rows do not mean millions of allocations.
pub type Id = compact_str::CompactString;

pub mod batch;
pub mod checksum;
pub mod cmd;
pub mod crash;
pub mod direct_io;
pub mod engine;
pub mod error;
pub mod frame;
pub mod ingest;
pub mod job;
pub mod ledger;
pub mod output;
pub mod paths;
pub mod progress;
pub mod record;
pub mod replay;
pub mod report;
pub mod rules;
pub mod schema;
pub mod signoff;
pub mod stored;

pub use error::{Error, Result};

/// The tool version written into every manifest.
pub const TOOL_VERSION: &str = concat!("voucher-settle ", env!("CARGO_PKG_VERSION"));
