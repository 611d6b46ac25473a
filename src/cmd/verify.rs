//! `voucher-settle verify LEDGER [--batch ID]`: re-run committed batches from
//! their archived inputs and compare every output row with what is stored;
//! check the hash chain, HEAD and every file's checksum.

use std::path::PathBuf;

use crate::ledger::{CommittedBatch, Ledger};
use crate::replay::differs;
pub use crate::replay::verify_selected;
use crate::{Error, Result};

/// 重算已提交批次，证明账本未被改动 Re-run committed batches and prove the store unchanged.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// 账本目录（作业文件的 `ledger`） The ledger store folder (the job's `ledger`).
    pub ledger: PathBuf,
    /// 只验证此批次 Verify only this batch (with the carry-in of the batches before it).
    #[arg(long)]
    pub batch: Option<String>,
    /// 最近签字兑付清单上的清单 SHA-256，账本须止于此
    /// The manifest SHA-256 written on the last signed payout list: the
    /// store must end at it (exit 3 otherwise). Through the hash chain it
    /// proves every batch before it.
    #[arg(long, value_name = "SHA256")]
    pub head: Option<String>,
}

/// The store ends at the manifest `expected` names (with or without its
/// `sha256:` prefix, in any letter case).
fn check_head(batches: &[CommittedBatch], expected: &str) -> Result<()> {
    let hex = expected.trim().trim_start_matches("sha256:").to_ascii_lowercase();
    if hex.len() < 8 || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Input(format!(
            "--head {expected}: 须为清单 SHA-256 的至少 8 位十六进制前缀 (give the manifest's SHA-256, or at least its \
             first 8 hex digits, as printed by run and written on the signed payout list)"
        )));
    }
    let named = |b: &CommittedBatch| b.manifest_sha256.trim_start_matches("sha256:").starts_with(&hex);
    let matching: Vec<&CommittedBatch> = batches.iter().filter(|b| named(b)).collect();
    let last = batches.last().map_or("none", |b| b.manifest_sha256.as_str());
    match matching.as_slice() {
        [one] if one.manifest_sha256 == last => Ok(()),
        [one] => {
            let at = batches.iter().position(|b| b.manifest_sha256 == one.manifest_sha256).unwrap_or(0);
            Err(differs(format!(
                "--head {} names batch {}, which {} later batch(es) follow; the store ends at {last}",
                one.manifest_sha256,
                one.manifest.batch_id,
                batches.len() - at - 1
            )))
        }
        [] => Err(differs(format!("--head sha256:{hex} is no manifest of this store, which ends at {last}"))),
        many => Err(Error::Input(format!(
            "--head {hex}: 前缀不唯一 (the prefix names {} manifests: {}; give more digits)",
            many.len(),
            many.iter().map(|b| b.manifest.batch_id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Returns the line to print: "N batches verified".
pub fn run(args: &VerifyArgs) -> Result<String> {
    // A link inside the store is a difference here (exit 3); the store is
    // walked for links once, by opening it, and again only to name it.
    let ledger = Ledger::open_read(&args.ledger).map_err(|e| match crate::ledger::find_link(&args.ledger) {
        Some(link) => differs(format!(
            "{}: 账本中的符号链接 (a symbolic link inside the ledger store: every file of the store must be in it)",
            link.display()
        )),
        None => e,
    })?;
    let batches = ledger.chain().map_err(differs)?;
    if let Some(expected) = &args.head {
        check_head(&batches, expected)?;
    }
    let selected: Vec<usize> = match &args.batch {
        None => (0..batches.len()).collect(),
        Some(id) => {
            let index = batches.iter().position(|b| &b.manifest.batch_id == id).ok_or_else(|| {
                Error::Input(format!("{}: 没有已提交的批次 {id} (no committed batch {id})", args.ledger.display()))
            })?;
            vec![index]
        }
    };
    verify_selected(&ledger, &batches, &selected)
}
