//! `voucher-settle statements LEDGER --batch ID --out DIR [--provider ID]`:
//! one statement per provider paid, reduced or refused in a committed batch
//! (服务商结算对账单), read from the ledger: every contract of theirs in the
//! batch with its outcome, amounts and the reason in Chinese (the bound that
//! cut it, with its policy clause), the batch's payout in figures and in
//! capitals, and the year to date against the cap. The batch is verified by
//! replay first; the ledger is only read, and the same store gives the same
//! bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::ledger::Ledger;
use crate::output::write_file;
use crate::replay::{archived_options, archived_table, verify_selected};
use crate::report::statement::{ContractLine, Statement, StatementOwed};
use crate::rules::codes::{Code, Severity, Source};
use crate::rules::money::parse_money;
use crate::rules::policy::Policy;
use crate::schema::files;
use crate::schema::input::contract as col;
use crate::schema::output::name;
use crate::schema::table::StoredTable;
use crate::stored::described::{cut_by, exception_line};
use crate::stored::{StoredBatch, StoredPayout};
use crate::{Error, Result};

/// 服务商结算对账单：每个服务商一份 One statement per provider of a committed batch, from the ledger.
#[derive(Debug, clap::Args)]
pub struct StatementsArgs {
    /// 账本目录（作业文件的 `ledger`） The ledger store folder (the job's `ledger`).
    pub ledger: PathBuf,
    /// 已提交的批次号 The committed batch.
    #[arg(long)]
    pub batch: String,
    /// 写入的目录 The folder to write the statements into (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// 只生成此服务商的对账单 Only this provider's statement.
    #[arg(long)]
    pub provider: Option<String>,
}

/// Returns the line to print: how many statements were written where.
pub fn run(args: &StatementsArgs) -> Result<String> {
    let store = crate::paths::Protected { what: "账本 the ledger store", path: args.ledger.clone(), exact: false };
    crate::paths::refuse_writes_into("--out", &args.out, &[store])?;
    let ledger = Ledger::open_read(&args.ledger)?;
    let committed = ledger.committed()?;
    let index = committed.iter().position(|b| b.manifest.batch_id == args.batch).ok_or_else(|| {
        Error::Input(format!(
            "{}: 没有已提交的批次 {} (no committed batch {})",
            args.ledger.display(),
            args.batch,
            args.batch
        ))
    })?;
    verify_selected(&ledger, &committed, &[index])?;
    tracing::debug!(rss_mib = crate::engine::memory::rss_mib(), "statements: batch replayed");
    let stored = StoredBatch::new(&ledger, &committed[index]);
    let statements = read_statements(&stored)?;
    let mut statements = statements;
    if let Some(wanted) = &args.provider {
        statements.retain(|id, _| id == wanted);
        if statements.is_empty() {
            return Err(Error::Input(format!(
                "批次 {} 中没有服务商 {wanted} 的合同 (provider {wanted} has nothing in batch {})",
                args.batch, args.batch
            )));
        }
    }
    tracing::debug!(rss_mib = crate::engine::memory::rss_mib(), "statements: statements built");
    let renamed = write_statements(&mut statements, &args.out)?;
    Ok(format!(
        "批次 {} 的 {} 份服务商对账单已写入 {} ({} provider statement{} of batch {} written into {}){renamed}",
        args.batch,
        statements.len(),
        args.out.display(),
        statements.len(),
        if statements.len() == 1 { "" } else { "s" },
        args.batch,
        args.out.display()
    ))
}

/// Every provider's statement of the batch, from its stored tables: each
/// read, turned into the statements' lines and let go before the next is
/// read (the batch's tables are never all held).
fn read_statements(stored: &StoredBatch) -> Result<BTreeMap<String, Statement>> {
    let m = &stored.batch.manifest;
    let policy = stored.policy()?;
    let mut statements = Statements { all: BTreeMap::new(), this: (m.batch_id.clone(), m.cutoff.clone()) };
    stored.slices(files::SETTLEMENTS_PARQUET, 100_000, |slice| statements.settled(&slice, &policy))?;
    tracing::debug!(rss_mib = crate::engine::memory::rss_mib(), "statements: settlements read");
    let mut refusals = Vec::new();
    stored.slices(files::EXCEPTIONS_PARQUET, 100_000, |slice| collect_refusals(&slice, &policy, &mut refusals))?;
    let refused = refusals.iter().map(|r| r.source_row).collect();
    let claims = refused_claims(stored, &refused)?;
    statements.refused(refusals, &claims);
    drop(claims);
    tracing::debug!(rss_mib = crate::engine::memory::rss_mib(), "statements: refusals read");
    statements.taken_back(&stored.reversals(&[])?);
    statements.payouts(&stored.payouts()?);
    statements.refunds(&stored.refunds()?);
    Ok(statements.all)
}

fn corrupt(batch: &str, what: &str) -> Error {
    Error::Mismatch(format!("批次 {batch} 的存档无法读取 (batch {batch}, archive): {what}"))
}

/// Writes one workbook per provider, side by side, each whole and under a
/// name of its own; returns what to say of names that had to be encoded.
fn write_statements(statements: &mut BTreeMap<String, Statement>, out: &std::path::Path) -> Result<String> {
    let stems: std::collections::BTreeSet<String> = statements.keys().map(|id| file_stem(id)).collect();
    if stems.len() != statements.len() {
        return Err(Error::Internal("two provider codes map to one statement file name".into()));
    }
    let encoded = statements.keys().filter(|id| file_stem(id) != **id).count();
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    statements.par_iter_mut().try_for_each(|(id, s)| -> Result<()> {
        s.contracts.sort_by(|a, b| a.contract_id.cmp(&b.contract_id));
        write_file(&out.join(format!("{}.xlsx", file_stem(id))), &s.workbook()?)
    })?;
    Ok(if encoded == 0 {
        String::new()
    } else {
        format!(
            "；其中 {encoded} 份的服务商代码含文件名不能用的字符，文件名后加了 ~ 和代码的 SHA-256 前 12 位 \
             ({encoded} of them named by their code with `~` and 12 hex digits of its SHA-256 added: the code holds \
             characters a file name cannot, so that no two providers share a file)"
        )
    })
}

/// The statements of a batch being built: one per provider, by code.
struct Statements {
    all: BTreeMap<String, Statement>,
    /// The batch's id and cutoff.
    this: (String, String),
}

/// What each refused contract row of the archived export names: its
/// provider, claimed voucher amount and enterprise, by source row.
type Claims = BTreeMap<u64, (String, String, String)>;

impl Statements {
    fn of(&mut self, id: &str) -> &mut Statement {
        let (batch, cutoff) = &self.this;
        self.all.entry(id.to_string()).or_insert_with(|| Statement::new(id, batch, cutoff))
    }

    /// Every settled contract, with the bound that cut it and its clause.
    fn settled(&mut self, settlements: &StoredTable, policy: &Policy) {
        for row in settlements.rows() {
            let code = settlements.text(row, name::CODE);
            let reason = match cut_by(settlements, row, policy) {
                Some(b) => {
                    let clause = if b.clause.is_empty() { String::new() } else { format!("（{}）", b.clause) };
                    let meaning = Code::parse(code).map_or("", Code::text_zh);
                    format!("{meaning}：{} {}{clause}", b.name_zh, b.formula)
                }
                None => "全额兑付".to_string(),
            };
            self.of(settlements.text(row, name::PROVIDER_ID)).contracts.push(ContractLine {
                contract_id: settlements.text(row, name::CONTRACT_ID).to_string(),
                enterprise_id: settlements.text(row, name::ENTERPRISE_ID).to_string(),
                claimed: settlements.money(row, name::VOUCHER_AMOUNT),
                outcome: settlements.text(row, name::OUTCOME).to_string(),
                approved: settlements.money(row, name::APPROVED_AMOUNT).unwrap_or_default(),
                shortfall: settlements.money(row, name::SHORTFALL),
                code: code.to_string(),
                reason,
            });
        }
    }

    /// Every refused contract row, attributed to the provider it names.
    fn refused(&mut self, refusals: Vec<Refusal>, claims: &Claims) {
        for r in refusals {
            let Some((provider, voucher, enterprise)) = claims.get(&r.source_row) else { continue };
            if provider.is_empty() {
                continue;
            }
            let claimed = parse_money(voucher);
            self.of(provider).contracts.push(ContractLine {
                contract_id: r.contract_id,
                enterprise_id: enterprise.clone(),
                claimed,
                outcome: "REJECTED".to_string(),
                approved: Decimal::ZERO,
                shortfall: claimed,
                code: r.code,
                reason: r.reason,
            });
        }
    }

    fn taken_back(&mut self, reversals: &StoredTable) {
        for row in reversals.rows() {
            let amount = reversals.money(row, name::AMOUNT).unwrap_or_default();
            self.of(reversals.text(row, name::PROVIDER_ID)).taken_back.push((
                reversals.text(row, name::CONTRACT_ID).to_string(),
                reversals.text(row, name::ACTION).to_string(),
                amount,
                reversals.text(row, name::REASON).to_string(),
            ));
        }
    }

    /// Each provider's name, net, year to date and cap left, from the payout list.
    fn payouts(&mut self, payouts: &[StoredPayout]) {
        for row in payouts {
            let s = self.of(&row.provider_id);
            s.name = row.provider_name.clone();
            s.net = row.net_batch;
            s.year_to_date = Some(row.approved_year);
            s.cap_remaining = Some(row.cap_remaining);
            if let Some(o) = &row.owed {
                let owed = s.owed.get_or_insert_with(StatementOwed::default);
                (owed.before, owed.new, owed.refunded) = (o.owed_before, o.owed_new, o.refunded_batch);
                (owed.offset, owed.paid, owed.after) = (o.offset_batch, o.paid_batch, o.owed_after);
            }
        }
    }

    /// The refunds applied to each provider's balance (rules 10.5).
    fn refunds(&mut self, refunds: &StoredTable) {
        for row in refunds.rows() {
            let amount = refunds.money(row, name::AMOUNT).unwrap_or_default();
            let line = (refunds.shown(row, name::RECEIVED_ON), refunds.text(row, name::REFERENCE).to_string(), amount);
            self.of(refunds.text(row, name::PROVIDER_ID))
                .owed
                .get_or_insert_with(StatementOwed::default)
                .refunds
                .push(line);
        }
    }
}

/// A contract row the batch refused, as its statement line needs it.
struct Refusal {
    source_row: u64,
    contract_id: String,
    code: String,
    /// Why, in Chinese: the code's meaning and the check that raised it.
    reason: String,
}

/// The refused contract rows among some of the batch's exception rows.
fn collect_refusals(exceptions: &StoredTable, policy: &Policy, into: &mut Vec<Refusal>) {
    let refused = |&row: &usize| {
        exceptions.text(row, name::SOURCE) == Source::Contracts.as_str()
            && exceptions.text(row, name::SEVERITY) == Severity::Error.as_str()
    };
    for row in exceptions.rows().filter(refused) {
        let line = exception_line(exceptions, row, Some(policy));
        let meaning = Code::parse(&line.code).map_or("", Code::text_zh);
        into.push(Refusal {
            source_row: exceptions.count(row, name::SOURCE_ROW).unwrap_or(0),
            contract_id: exceptions.text(row, name::CONTRACT_ID).to_string(),
            reason: format!("{meaning}（{}）", line.check),
            code: line.code,
        });
    }
}

/// Which provider each refused contract row of the batch's archived export
/// names, and what it claimed (refused rows are attributed through it).
fn refused_claims(stored: &StoredBatch, refused: &std::collections::BTreeSet<u64>) -> Result<Claims> {
    let (ledger, m, batch_id) = (stored.ledger(), &stored.batch.manifest, stored.id());
    let entry = m
        .inputs
        .iter()
        .find(|i| i.name == Source::Contracts.as_str())
        .ok_or_else(|| corrupt(batch_id, "contracts input not listed"))?;
    let options = archived_options(ledger, m)?.inputs;
    let contracts = archived_table(ledger, m, entry, Source::Contracts, options.get(Source::Contracts))?;
    let (provider_at, voucher_at, enterprise_at) = (col::PROVIDER_ID, col::VOUCHER_AMOUNT, col::ENTERPRISE_ID);
    Ok(contracts
        .records()
        .filter(|r| refused.contains(&r.source_row))
        .map(|r| {
            let claim = (
                r.get(provider_at).trim().to_string(),
                r.get(voucher_at).to_string(),
                r.get(enterprise_at).trim().to_string(),
            );
            (r.source_row, claim)
        })
        .collect())
}

/// A file name from a provider's code, one per code: letters and digits
/// kept, anything else `_`; a code that this changes (or that is longer than
/// 64 characters) gets the first 12 hex digits of its SHA-256 after a `~`,
/// so that `a/b` and `a_b` never share a file.
fn file_stem(id: &str) -> String {
    let stem: String = id.chars().take(64).map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let stem = if stem.is_empty() { "_".to_string() } else { stem };
    if stem == id {
        stem
    } else {
        {
            let digest = crate::checksum::sha256_hex(id.as_bytes());
            format!("{stem}~{}", &digest.trim_start_matches("sha256:")[..12])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    /// Codes that map to one name once made safe for a file system get
    /// names of their own; a plain credit code stays as it is.
    #[test]
    fn every_provider_gets_a_file_name_of_its_own() {
        assert_eq!(file_stem("91450100MA5PRW001L"), "91450100MA5PRW001L");
        assert_eq!(file_stem("a_b"), "a_b");
        let encoded = file_stem("a/b");
        assert!(encoded.starts_with("a_b~") && encoded.len() == "a_b~".len() + 12, "{encoded}");
        assert_ne!(file_stem("a/b"), file_stem("a:b"));
        assert_ne!(file_stem(&"x".repeat(65)), file_stem(&"x".repeat(66)));
    }
}
