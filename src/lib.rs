//! voucher-settle: quarterly settlement of the Guangxi manufacturing service
//! vouchers (服务券兑付结算), as `../shared/SPEC.md` describes.
//!
//! The pipeline, one module per stage:
//! job -> policy -> ingest (raw tables) -> registry / validate (SPEC 4.1)
//! -> allocate (SPEC 4.2, pure and sequential) -> report (outputs) -> ledger (commit).
//! Only `frame` touches polars.

/// An identifier (contract, USCC, product) or other short text: kept inline
/// up to 24 bytes, so a million rows do not mean millions of allocations.
pub type Id = compact_str::CompactString;

pub mod allocate;
pub mod batch;
pub mod capital;
pub mod category;
pub mod cmd;
pub mod codes;
pub mod dates;
pub mod direct_io;
pub mod error;
pub mod frame;
pub mod html;
pub mod ingest;
pub mod job;
pub mod ledger;
pub mod money;
pub mod output;
pub mod policy;
pub mod progress;
pub mod quota;
pub mod registry;
pub mod report;
pub mod settle;
pub mod uscc;
pub mod validate;
pub mod workbook;

pub use error::{Error, Result};

/// The tool version written into every manifest.
pub const TOOL_VERSION: &str = concat!("voucher-settle ", env!("CARGO_PKG_VERSION"));
