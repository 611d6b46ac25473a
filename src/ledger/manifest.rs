//! manifest.json: what a batch read, what it wrote, and the hash of the
//! manifest committed before it (a hash chain).

use serde::{Deserialize, Serialize};

/// A file with its checksum (`sha256:<hex>`) and, for tables, its data rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// The ledger format this tool writes and replays up to. Raised whenever
/// the set or layout of the ledger files changes, so that `verify` replays
/// each batch as it was written:
/// 1 — the manifest has no `ledger_format` (every batch before the number
///     was recorded);
/// 2 — every text cell of every CSV file is guarded against spreadsheet
///     formulas (before: the exception report's input columns and the name
///     columns), and the payout list's print footer names the batch, the
///     manifest it follows and the page;
/// 3 — corrections (rules 9): the corrections input is archived and listed
///     among the inputs, reversals.csv and .parquet are written, payouts.csv
///     and enterprise_usage.csv carry the reversal columns, and the workbook
///     has the sheet 追回清单;
/// 4 — payouts.parquet and enterprise_usage.parquet are written; an absent
///     value in any Parquet table is null (before: empty text); the workbook
///     is laid out for reading and printing (Chinese headings over the
///     column names, real dates, widths from the values, filters, print
///     setup, 单位：元, cut sheets saying so at the top, every severity in a
///     cut 异常清单).
/// 5 — a contract id holding a control or format character is malformed
///     (rules 2.1, 4.1 step 10), and so is a correction's (9.2 step 1);
///     every document shows the batch's money from one set of figures
///     (`report::figures`): `summary.json` records it (`money`), 汇总
///     shows approved, taken back, net, what each list pays or claims and
///     their balance, and report.html draws each provider's net.
///
/// `run` writes every new batch in this format, at any batch of any year
/// (rules 9.6), reading the batches before it in their own formats.
pub const LEDGER_FORMAT: u32 = 5;

/// Whether a batch of ledger format `format` shows its money from the one
/// set of figures (approved, taken back, net, to pay, owed back).
pub fn net_figures(format: u32) -> bool {
    format >= 5
}

/// What a contract id may hold in a batch of ledger format `format`.
pub fn id_rule(format: u32) -> crate::rules::ids::IdRule {
    use crate::rules::ids::IdRule;
    if format >= 5 { IdRule::Visible } else { IdRule::Length }
}

fn format_one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool_version: String,
    /// The ledger format the batch was written in ([`LEDGER_FORMAT`]).
    #[serde(default = "format_one")]
    pub ledger_format: u32,
    /// Position in the store's commit order, from 1.
    pub sequence: u64,
    pub batch_id: String,
    pub service_year: i32,
    pub cutoff: String,
    pub dry_run: bool,
    pub created_at: String,
    pub job: FileEntry,
    pub policy: FileEntry,
    pub inputs: Vec<FileEntry>,
    pub outputs: Vec<FileEntry>,
    /// SHA-256 of the previous committed manifest.json of the store.
    pub prev_manifest_sha256: Option<String>,
}

impl Manifest {
    /// Whether a run with these policy and input checksums would settle the
    /// same batch again.
    pub fn same_inputs(&self, policy_sha256: &str, inputs: &[FileEntry]) -> bool {
        let checksums =
            |entries: &[FileEntry]| entries.iter().map(|e| (e.name.clone(), e.sha256.clone())).collect::<Vec<_>>();
        self.policy.sha256 == policy_sha256 && checksums(&self.inputs) == checksums(inputs)
    }
}

impl From<&crate::output::OutputFile> for FileEntry {
    fn from(file: &crate::output::OutputFile) -> FileEntry {
        FileEntry { name: file.name.to_string(), path: None, sha256: file.sha256.clone(), rows: file.rows }
    }
}
