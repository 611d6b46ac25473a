//! What each ledger format holds and how its files are laid out — the one
//! place that knows the format numbers. Writers and readers ask a
//! [`Format`]; nothing else compares format numbers. A batch is always
//! rendered and replayed in the format its manifest records.
//!
//! 1 — the manifest has no `ledger_format` (every batch before the number
//!     was recorded);
//! 2 — every text cell of every CSV file is guarded against spreadsheet
//!     formulas (before: the exception report's input columns and the name
//!     columns), and the payout list's print footer names the batch, the
//!     manifest it follows and the page;
//! 3 — corrections (rules 9): the corrections input is archived and listed
//!     among the inputs, reversals.csv and .parquet are written, payouts.csv
//!     and enterprise_usage.csv carry the reversal columns, and the workbook
//!     has the sheet 追回清单;
//! 4 — payouts.parquet and enterprise_usage.parquet are written; an absent
//!     value in any Parquet table is null (before: empty text); the workbook
//!     is laid out for reading and printing (Chinese headings over the
//!     column names, real dates, widths from the values, filters, print
//!     setup, 单位：元, cut sheets saying so at the top, every severity in a
//!     cut 异常清单), and report.html reads on any screen;
//! 5 — a contract id holding a control or format character is malformed
//!     (rules 2.1, 4.1 step 10), and so is a correction's (9.2 step 1);
//!     every document shows the batch's money from one set of figures
//!     (`report::figures`): `summary.json` records it (`money`), 汇总
//!     shows approved, taken back, net, what each list pays or claims and
//!     their balance, and report.html draws each provider's net; amounts
//!     owed back are carried until repaid (rules 10, `owed_balances`);
//!     Parquet footers say whose they are; a job may ask for sign-off,
//!     whose approvals the manifest records; risk flags (risk.csv and
//!     .parquet, 风险提示) and the spot-check sample (sample.csv, .parquet
//!     and .xlsx) are written (`audit_flags`).
//!
//! Every format from 2 has a fixture store (`fixtures/ledger-format-N`,
//! format 5's included) that must still verify byte for byte. Adding a
//! format: raise [`LEDGER_FORMAT`], describe it above, give it a method
//! here that says what it changes, and have the writers ask that method.

use crate::engine::FormatRules;
use crate::rules::ids::IdRule;
use crate::rules::outputs::PayoutLayout;

/// The ledger format this tool writes and replays up to. `run` writes
/// every new batch in it, at any batch of any year (rules 9.6), reading
/// the batches before it in their own formats.
pub const LEDGER_FORMAT: u32 = 5;

/// A batch's ledger format, as its manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Format(pub u32);

impl Format {
    pub const NEWEST: Format = Format(LEDGER_FORMAT);

    /// A format this tool can replay (a newer tool wrote the others).
    pub fn known(self) -> bool {
        self.0 <= LEDGER_FORMAT
    }

    /// Every text cell of every CSV file guarded against formulas; the
    /// payout list's footer names the ledger state.
    pub fn guards_every_csv_cell(self) -> bool {
        self.0 >= 2
    }

    /// Corrections: reversals files, reversal columns, 追回清单, the net
    /// payout list.
    pub fn has_corrections(self) -> bool {
        self.0 >= 3
    }

    /// Laid out to be read and printed: the workbook's reading layout, the
    /// responsive report page, nulls in Parquet, the payouts and usage
    /// Parquet files.
    pub fn reads_and_prints(self) -> bool {
        self.0 >= 4
    }

    /// The batch's money shown from one set of figures in every document.
    pub fn net_figures(self) -> bool {
        self.0 >= 5
    }

    /// Amounts owed back (rules 10): the refunds input archived and
    /// listed, refunds.csv and .parquet, the balance and paid columns of
    /// the payout list and its rows for providers listed only for their
    /// balance, 兑付清单 paying `paid_batch`, the balances on 追回清单 and
    /// 应退款台账.
    pub fn owed_balances(self) -> bool {
        self.0 >= 5
    }

    /// Risk flags and the spot-check sample: risk.csv and .parquet, the
    /// sheet 风险提示 and its section of report.html, sample.csv, .parquet
    /// and .xlsx.
    pub fn audit_flags(self) -> bool {
        self.0 >= 5
    }

    /// The columns of the payout list.
    pub fn payout_layout(self) -> PayoutLayout {
        if self.owed_balances() {
            PayoutLayout::Owed
        } else if self.has_corrections() {
            PayoutLayout::Reversals
        } else {
            PayoutLayout::Plain
        }
    }

    /// What a contract id may hold.
    pub fn id_rule(self) -> IdRule {
        if self.0 >= 5 { IdRule::Visible } else { IdRule::Length }
    }

    /// The rules of the format that a batch is settled under.
    pub fn rules(self) -> FormatRules {
        FormatRules { ids: self.id_rule(), owed_balances: self.owed_balances(), risk_flags: self.audit_flags() }
    }
}
