//! The annual settlement statement (年度结算): a service year across all its
//! committed batches, from what the ledger stores — each batch's
//! settlements and reversals (the record), its payout list and quota use
//! (names, tiers, quotas, caps) and its summary. Every total is recomputed
//! from the record and checked against what each batch's own files say
//! before anything is written ([`Year::build`]); the tables then become
//! `year-Y.xlsx`, `year-Y.html` and one Parquet file each.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::Decimal;
use rust_xlsxwriter::XlsxError;

use crate::report::Summary;
use crate::report::capital::to_capital;
use crate::report::detail_sheet::{DetailFormats, DetailSheet, new_workbook};
use crate::report::html::{RESPONSIVE_STYLE, SignedBar, bar_rows, escape, grouped, signed_bar_rows};
use crate::rules::bounds::Bound;
use crate::rules::codes::{Check, Code};
use crate::schema::output::name;
use crate::schema::output::{
    Cell, Column, Kind, PerBatch, YEAR_BATCHES, YEAR_CATEGORIES, YEAR_CATEGORIES_PER_BOUND, YEAR_CODES,
    YEAR_CODES_AFTER, YEAR_CODES_PER_BATCH, YEAR_ENTERPRISES, YEAR_ENTERPRISES_AFTER, YEAR_ENTERPRISES_PER_BATCH,
    YEAR_PROVIDERS, YEAR_PROVIDERS_AFTER, YEAR_PROVIDERS_PER_BATCH,
};
use crate::schema::table::StoredTable;
use crate::stored::StoredSettlement;
use crate::stored::carry::LedgerReversal;
use crate::{Error, Result};

/// What the ledger holds of one committed batch, as read (and checked
/// against its manifest) by the `year` command.
pub struct BatchFacts {
    pub batch_id: String,
    pub cutoff: String,
    pub summary: Summary,
    pub settlements: Vec<StoredSettlement>,
    pub reversals: Vec<LedgerReversal>,
    pub payouts: Vec<crate::stored::StoredPayout>,
    /// enterprise_usage.csv, typed.
    pub usage: StoredTable,
    /// The checksums of the four registries it read: a registry version.
    pub registry_version: String,
    /// Who signed the batch off (empty without sign-off).
    pub signed_by: String,
    /// The batch's risk flags naming a provider: (provider id, flag code).
    pub flags: Vec<(String, String)>,
}

/// One batch's line of the year.
pub struct BatchLine {
    pub batch_id: String,
    pub rows_in: u64,
    pub settled: u64,
    pub reduced: u64,
    pub rejected: u64,
    pub approved: Decimal,
    pub reversed: Decimal,
    pub signed_by: String,
}

impl BatchLine {
    pub fn net(&self) -> Decimal {
        self.approved - self.reversed
    }
}

/// What 异常趋势 says of a registry code: counted once per registry version.
const REGISTRY_COUNTED_ONCE: &str =
    "名录异常：同一版本的名录只在首次读入的批次计数（名录未变的批次不重复计）counted once per registry version";

/// A provider's year: net per batch (in the year's batch order), contracts
/// settled, and the cap left after the year.
#[derive(Default)]
pub struct ProviderYear {
    pub name: String,
    pub net: Vec<Decimal>,
    pub contracts: u64,
    pub cap_remaining: Option<Decimal>,
    /// Over the year's batches (rules 10.5): newly owed, refunded, offset.
    pub owed_new: Decimal,
    pub refunded: Decimal,
    pub offset: Decimal,
    /// The balance owed back after the year's last committed batch.
    pub owed_at_end: Decimal,
    /// The year's risk flags naming the provider, by code: how many.
    pub flags: BTreeMap<String, u64>,
    /// The same in one cell: `F_…×n; …`.
    pub flag_summary: String,
}

/// An enterprise's year: its tier and quota as last listed, use per batch
/// net of reversals.
#[derive(Default)]
pub struct EnterpriseYear {
    pub name: String,
    pub tier: Option<u64>,
    pub quota: Option<Decimal>,
    pub used: Vec<Decimal>,
}

/// A category's year over its settled contracts, and how often each bound
/// cut a claim.
#[derive(Default)]
pub struct CategoryYear {
    pub contracts: u64,
    pub claimed: Decimal,
    pub approved: Decimal,
    /// Settlements reduced by each bound, in [`Bound::ALL`] order.
    pub bound: [u64; 4],
}

pub struct Year {
    pub year: i32,
    /// The last batch's cutoff: the workbook's fixed creation date.
    pub last_cutoff: String,
    pub batches: Vec<BatchLine>,
    pub providers: BTreeMap<String, ProviderYear>,
    pub enterprises: BTreeMap<String, EnterpriseYear>,
    pub categories: BTreeMap<String, CategoryYear>,
    /// Exception rows per code and batch.
    pub codes: BTreeMap<String, Vec<u64>>,
}

fn money(text: &str, what: &str) -> Result<Decimal> {
    text.trim().parse().map_err(|_| Error::Internal(format!("{what}: not an amount: {text:?}")))
}

fn mismatch(what: String) -> Error {
    Error::Internal(format!(
        "年度结算核对不符，未写入任何文件 (the year's totals do not agree with the stored batches; nothing written): {what}"
    ))
}

impl Year {
    /// The year from its batches, in commit order; every total recomputed
    /// from the settlements and reversals and checked against each batch's
    /// summary, payout list and quota use — a difference is an error.
    /// `owed_at_end`: each provider's balance owed back after the year's
    /// last committed batch (rules 10.1, read from the store).
    pub fn build(year: i32, facts: &[BatchFacts], owed_at_end: &BTreeMap<String, Decimal>) -> Result<Year> {
        let n = facts.len();
        let mut y = Year {
            year,
            last_cutoff: facts.last().map(|f| f.cutoff.clone()).unwrap_or_default(),
            batches: Vec::new(),
            providers: BTreeMap::new(),
            enterprises: BTreeMap::new(),
            categories: BTreeMap::new(),
            codes: BTreeMap::new(),
        };
        for (at, f) in facts.iter().enumerate() {
            let approved: Decimal = f.settlements.iter().map(|s| s.approved).sum();
            let reversed: Decimal = f.reversals.iter().map(|r| r.entry.approved_amount).sum();
            let stated = money(&f.summary.approved_total, "approved_total")?;
            if approved != stated {
                return Err(mismatch(format!("{}: settlements {approved} ≠ summary {stated}", f.batch_id)));
            }
            let stated_reversed = match &f.summary.corrections {
                Some(c) => money(&c.reversed_total, "reversed_total")?,
                None => Decimal::ZERO,
            };
            if reversed != stated_reversed {
                return Err(mismatch(format!("{}: reversals {reversed} ≠ summary {stated_reversed}", f.batch_id)));
            }
            y.batches.push(BatchLine {
                batch_id: f.batch_id.clone(),
                rows_in: f.summary.contract_rows_in,
                settled: f.summary.settled,
                reduced: f.summary.settled_reduced,
                rejected: f.summary.rejected,
                approved,
                reversed,
                signed_by: f.signed_by.clone(),
            });
            y.add_rows(at, n, f);
            let same_registries = at > 0 && facts[at - 1].registry_version == f.registry_version;
            y.add_codes(at, n, f, same_registries);
            y.check_payouts(at, f)?;
            y.check_usage(at, f)?;
        }
        y.check_caps()?;
        for p in y.providers.values_mut() {
            p.flag_summary = p.flags.iter().map(|(code, n)| format!("{code}×{n}")).collect::<Vec<_>>().join("; ");
        }
        for (id, balance) in owed_at_end.iter().filter(|(_, b)| !b.is_zero()) {
            y.providers.entry(id.clone()).or_default().owed_at_end = *balance;
        }
        Ok(y)
    }

    /// Batch `at` of `n`'s settlements and reversals, into each provider's
    /// net, each enterprise's use and each category's counts.
    fn add_rows(&mut self, at: usize, n: usize, f: &BatchFacts) {
        let y = self;
        for s in &f.settlements {
            let p = y.providers.entry(s.provider_id.clone()).or_default();
            p.net.resize(n, Decimal::ZERO);
            p.net[at] += s.approved;
            p.contracts += 1;
            let e = y.enterprises.entry(s.enterprise_id.clone()).or_default();
            e.used.resize(n, Decimal::ZERO);
            e.used[at] += s.approved;
            let c = y.categories.entry(s.category.clone()).or_default();
            c.contracts += 1;
            c.claimed += s.claimed;
            c.approved += s.approved;
            if let Some(k) = Bound::ALL.iter().position(|b| b.code().as_str() == s.code) {
                c.bound[k] += 1;
            }
        }
        for (provider, code) in &f.flags {
            *y.providers.entry(provider.clone()).or_default().flags.entry(code.clone()).or_default() += 1;
        }
        for r in &f.reversals {
            let p = y.providers.entry(r.entry.provider_id.clone()).or_default();
            p.net.resize(n, Decimal::ZERO);
            p.net[at] -= r.entry.approved_amount;
            let e = y.enterprises.entry(r.entry.enterprise_id.clone()).or_default();
            e.used.resize(n, Decimal::ZERO);
            e.used[at] -= r.entry.approved_amount;
        }
    }

    /// Batch `at`'s exception rows per code. A registry row's exception is
    /// counted once per registry version: not again in a batch that read
    /// the same registries as the one before it.
    fn add_codes(&mut self, at: usize, n: usize, f: &BatchFacts, same_registries: bool) {
        for (code, count) in &f.summary.codes {
            let registry = Code::parse(code).is_some_and(|c| c.check() == Check::Registry);
            if registry && same_registries {
                continue;
            }
            let counts = self.codes.entry(code.clone()).or_default();
            counts.resize(n, 0);
            counts[at] += count;
        }
    }

    /// Each provider's net for the batch and its year to date as the
    /// batch's payout list has them; names and the cap left from there.
    fn check_payouts(&mut self, at: usize, f: &BatchFacts) -> Result<()> {
        for row in &f.payouts {
            let (id, net) = (&row.provider_id, row.net_batch);
            let p = self.providers.entry(id.clone()).or_default();
            p.net.resize(at + 1, Decimal::ZERO);
            if p.net[at] != net {
                return Err(mismatch(format!("{} {id}: recomputed {} ≠ payouts {net}", f.batch_id, p.net[at])));
            }
            let year_to_date: Decimal = p.net.iter().sum();
            let listed = row.approved_year;
            if year_to_date != listed {
                return Err(mismatch(format!("{} {id}: year to date {year_to_date} ≠ payouts {listed}", f.batch_id)));
            }
            p.name = row.provider_name.clone();
            p.cap_remaining = Some(row.cap_remaining);
            match &row.owed {
                Some(o) => {
                    (p.owed_new, p.refunded, p.offset) =
                        (p.owed_new + o.owed_new, p.refunded + o.refunded_batch, p.offset + o.offset_batch)
                }
                // Batches before the balance was recorded owe what a negative net leaves (rules 10.1).
                None => p.owed_new += (-net).max(Decimal::ZERO),
            }
        }
        Ok(())
    }

    /// Each enterprise's use after the batch as its quota-use file has it;
    /// names, tiers and quotas from there.
    fn check_usage(&mut self, at: usize, f: &BatchFacts) -> Result<()> {
        let usage = &f.usage;
        for row in usage.rows() {
            let id = usage.text(row, name::ENTERPRISE_ID);
            let e = self.enterprises.entry(id.to_string()).or_default();
            e.used.resize(at + 1, Decimal::ZERO);
            let used: Decimal = e.used.iter().sum();
            let listed = usage.amount(row, name::USED_AFTER)?;
            if used != listed {
                return Err(mismatch(format!("{} {id}: used {used} ≠ enterprise_usage {listed}", f.batch_id)));
            }
            if !usage.text(row, name::ENTERPRISE_NAME).is_empty() {
                e.name = usage.text(row, name::ENTERPRISE_NAME).to_string();
            }
            if let Some(tier) = usage.count(row, name::TIER) {
                e.tier = Some(tier);
                e.quota = Some(usage.amount(row, name::QUOTA)?);
            }
        }
        Ok(())
    }

    /// Every cap held at the year's end: no provider past its cap, no
    /// enterprise past its quota, nobody below zero.
    fn check_caps(&self) -> Result<()> {
        for (id, p) in &self.providers {
            let total: Decimal = p.net.iter().sum();
            if total < Decimal::ZERO || p.cap_remaining.is_some_and(|left| left < Decimal::ZERO) {
                return Err(mismatch(format!("provider {id}: year {total}, cap left {:?}", p.cap_remaining)));
            }
        }
        for (id, e) in &self.enterprises {
            let used: Decimal = e.used.iter().sum();
            if used < Decimal::ZERO || e.quota.is_some_and(|quota| used > quota) {
                return Err(mismatch(format!("enterprise {id}: used {used} of quota {:?}", e.quota)));
            }
        }
        Ok(())
    }

    pub fn approved(&self) -> Decimal {
        self.batches.iter().map(|b| b.approved).sum()
    }

    pub fn reversed(&self) -> Decimal {
        self.batches.iter().map(|b| b.reversed).sum()
    }

    pub fn net(&self) -> Decimal {
        self.approved() - self.reversed()
    }

    /// The year's tables: (file stem, sheet name, columns (Chinese heading,
    /// name, kind), rows). The sheets and the Parquet files are both made
    /// from these.
    fn tables(&self) -> Vec<YearTable<'_>> {
        vec![
            self.batches_table(),
            self.providers_table(),
            self.enterprises_table(),
            self.categories_table(),
            self.codes_table(),
        ]
    }

    /// 年度汇总: one line per batch.
    fn batches_table(&self) -> YearTable<'_> {
        let amount = |v: Decimal| Cell::Money(v);
        let mut batches = YearTable::new("batches", "年度汇总", &YEAR_BATCHES, Vec::new(), &[]);
        for b in &self.batches {
            batches.rows.push(vec![
                Cell::Text(&b.batch_id),
                Cell::Count(b.rows_in),
                Cell::Count(b.settled),
                Cell::Count(b.reduced),
                Cell::Count(b.rejected),
                amount(b.approved),
                amount(b.reversed),
                amount(b.net()),
                Cell::InputText(&b.signed_by),
            ]);
        }
        batches
    }

    /// 服务商年度结算: each provider's net per batch, its year and its balance owed back.
    fn providers_table(&self) -> YearTable<'_> {
        let ids: Vec<&str> = self.batches.iter().map(|b| b.batch_id.as_str()).collect();
        let amount = |v: Decimal| Cell::Money(v);
        let mut providers = YearTable::new(
            "providers",
            "服务商年度结算",
            &YEAR_PROVIDERS,
            per_batch(&ids, YEAR_PROVIDERS_PER_BATCH),
            &YEAR_PROVIDERS_AFTER,
        );
        for (id, p) in &self.providers {
            let mut row = vec![Cell::Text(id), Cell::InputText(&p.name)];
            row.extend((0..ids.len()).map(|at| amount(p.net.get(at).copied().unwrap_or_default())));
            row.push(amount(p.net.iter().sum()));
            row.push(p.cap_remaining.map_or(Cell::Empty, Cell::Money));
            row.push(Cell::Count(p.contracts));
            row.extend([p.owed_new, p.refunded, p.offset, p.owed_at_end].map(amount));
            row.push(Cell::Text(&p.flag_summary));
            providers.rows.push(row);
        }
        providers
    }

    /// 企业年度用券: each enterprise's use per batch against its quota.
    fn enterprises_table(&self) -> YearTable<'_> {
        let ids: Vec<&str> = self.batches.iter().map(|b| b.batch_id.as_str()).collect();
        let amount = |v: Decimal| Cell::Money(v);
        let mut enterprises = YearTable::new(
            "enterprises",
            "企业年度用券",
            &YEAR_ENTERPRISES,
            per_batch(&ids, YEAR_ENTERPRISES_PER_BATCH),
            &YEAR_ENTERPRISES_AFTER,
        );
        for (id, e) in &self.enterprises {
            let used: Decimal = e.used.iter().sum();
            let mut row = vec![
                Cell::Text(id),
                Cell::InputText(&e.name),
                e.tier.map_or(Cell::Empty, Cell::Count),
                e.quota.map_or(Cell::Empty, Cell::Money),
            ];
            row.extend((0..ids.len()).map(|at| amount(e.used.get(at).copied().unwrap_or_default())));
            row.push(amount(used));
            row.push(e.quota.map_or(Cell::Empty, |q| Cell::Money(q - used)));
            enterprises.rows.push(row);
        }
        enterprises
    }

    /// 类别统计: per category, contracts, amounts and how often each bound cut.
    fn categories_table(&self) -> YearTable<'_> {
        let amount = |v: Decimal| Cell::Money(v);
        let per_bound = Bound::ALL
            .iter()
            .map(|b| {
                let code = b.code().as_str().to_lowercase();
                (format!("受{}限制", b.short_zh()), format!("{YEAR_CATEGORIES_PER_BOUND}_{code}"), Kind::Count)
            })
            .collect();
        let mut categories = YearTable::new("categories", "类别统计", &YEAR_CATEGORIES, per_bound, &[]);
        for (category, c) in &self.categories {
            let rate = if c.claimed.is_zero() {
                Decimal::ZERO
            } else {
                (c.approved * Decimal::from(100) / c.claimed).round_dp(2)
            };
            let mut row = vec![
                Cell::Text(category),
                Cell::Count(c.contracts),
                amount(c.claimed),
                amount(c.approved),
                amount(rate),
            ];
            row.extend(c.bound.iter().map(|n| Cell::Count(*n)));
            categories.rows.push(row);
        }
        categories
    }

    /// 异常趋势: exception rows per code and batch.
    fn codes_table(&self) -> YearTable<'_> {
        let ids: Vec<&str> = self.batches.iter().map(|b| b.batch_id.as_str()).collect();
        let mut codes =
            YearTable::new("codes", "异常趋势", &YEAR_CODES, per_batch(&ids, YEAR_CODES_PER_BATCH), &YEAR_CODES_AFTER);
        for (code, counts) in &self.codes {
            let meaning = match Code::parse(code) {
                Some(c) if c.check() == Check::Registry => REGISTRY_COUNTED_ONCE,
                Some(c) => c.text_zh(),
                None => "",
            };
            let mut row = vec![Cell::Text(code), Cell::Text(meaning)];
            row.extend((0..ids.len()).map(|at| Cell::Count(counts.get(at).copied().unwrap_or(0))));
            row.push(Cell::Count(counts.iter().sum()));
            codes.rows.push(row);
        }
        codes
    }

    /// Each table as Parquet: (file name, bytes).
    pub fn parquet_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.tables()
            .iter()
            .map(|t| {
                let columns: Vec<(&str, Kind)> =
                    t.columns.iter().map(|(_, name, kind)| (name.as_str(), *kind)).collect();
                Ok((format!("year-{}-{}.parquet", self.year, t.stem), crate::frame::cells_parquet(&columns, &t.rows)?))
            })
            .collect()
    }

    /// year-Y.xlsx: one sheet per table, laid out like the batch
    /// workbook's detail sheets, the summary with the year's total in
    /// capital numerals and the checks that held.
    pub fn workbook(&self) -> Result<Vec<u8>> {
        self.build_workbook().map_err(|e| Error::Internal(format!("year-{}.xlsx: {e}", self.year)))
    }

    fn build_workbook(&self) -> std::result::Result<Vec<u8>, XlsxError> {
        let created = crate::rules::dates::parse_date(&self.last_cutoff)
            .or_else(|| chrono::NaiveDate::from_ymd_opt(self.year, 12, 31))
            .unwrap_or_default();
        let mut workbook = new_workbook(format!("服务券年度结算 {}", self.year), created)?;
        let formats = DetailFormats::readable();
        for (k, table) in self.tables().iter().enumerate() {
            let sheet = workbook.add_worksheet();
            let mut detail =
                DetailSheet::start(sheet, table.sheet, &formats, (table.rows.len(), table.rows.len()), "")?;
            detail.line(&format!("服务券年度结算 {} — {}", self.year, table.sheet))?;
            if table.columns.iter().any(|(_, _, kind)| *kind == Kind::Money) {
                detail.line("单位：元")?;
            }
            let pairs: Vec<(&str, &str)> =
                table.columns.iter().map(|(zh, name, _)| (zh.as_str(), name.as_str())).collect();
            detail.table_header_of(&pairs)?;
            for row in &table.rows {
                for cell in row {
                    detail.cell(*cell);
                }
                detail.end_row();
            }
            detail.end_table();
            if k == 0 {
                self.year_total_lines(&mut detail)?;
            }
            detail.finish(table.columns.len())?;
        }
        for sheet in workbook.worksheets_mut() {
            sheet.set_footer("&L&8服务券年度结算&R&8第 &P 页 共 &N 页");
        }
        workbook.save_to_buffer()
    }

    /// Under the batches: the year's total, in figures and in capitals, and
    /// the checks made before the workbook was written.
    fn year_total_lines(&self, detail: &mut DetailSheet) -> std::result::Result<(), XlsxError> {
        detail.text("年度合计 year");
        for cell in [
            Cell::Count(self.batches.iter().map(|b| b.rows_in).sum()),
            Cell::Count(self.batches.iter().map(|b| b.settled).sum()),
            Cell::Count(self.batches.iter().map(|b| b.reduced).sum()),
            Cell::Count(self.batches.iter().map(|b| b.rejected).sum()),
            Cell::Money(self.approved()),
            Cell::Money(self.reversed()),
            Cell::Money(self.net()),
        ] {
            detail.cell(cell);
        }
        detail.end_row();
        detail.blank();
        detail.line(&format!("年度净额（大写）人民币{}", to_capital(self.net())))?;
        let owed =
            |f: fn(&ProviderYear) -> Decimal| -> String { super::html::grouped(self.providers.values().map(f).sum()) };
        detail.line(&format!(
            "应退回款 owed back: 年度新增 newly owed {}，退回到账 refunded {}，抵扣 offset {}，年末余额 balance at year end {}",
            owed(|p| p.owed_new),
            owed(|p| p.refunded),
            owed(|p| p.offset),
            owed(|p| p.owed_at_end)
        ))?;
        detail.line("核对 checks: ✓ 各批次核定、冲正合计 = 账本中的兑付与冲正记录 (each batch's totals = its stored settlements and reversals)")?;
        detail.line(
            "✓ 各服务商、企业的年度累计 = 各批次清单所列 (each provider's and enterprise's year = its batches' lists)",
        )?;
        detail.line("✓ 年末无服务商超过年度上限、无企业超过配额 (every cap held at the year's end)")?;
        Ok(())
    }

    /// year-Y.html: the year on one self-contained page.
    pub fn html(&self) -> String {
        let spend: Vec<SignedBar> =
            self.batches.iter().map(|b| (b.batch_id.clone(), b.net(), grouped(b.net()), None)).collect();
        let quotas: Decimal = self.enterprises.values().filter_map(|e| e.quota).sum();
        let mut cumulative = Vec::new();
        let mut running = Decimal::ZERO;
        for b in &self.batches {
            running += b.net();
            cumulative.push((format!("{} 累计", b.batch_id), running, grouped(running)));
        }
        cumulative.push(("配额合计 sum of quotas".to_string(), quotas, grouped(quotas)));
        let mut providers: Vec<(&String, &ProviderYear)> = self.providers.iter().collect();
        let total = |p: &ProviderYear| -> Decimal { p.net.iter().sum() };
        providers.sort_by(|a, b| total(b.1).cmp(&total(a.1)).then(a.0.cmp(b.0)));
        // Each bar a share of the provider's cap (a full bar: the cap reached).
        let top: Vec<SignedBar> = providers
            .iter()
            .take(20)
            .map(|(id, p)| {
                let name = if p.name.trim().is_empty() { (*id).clone() } else { p.name.clone() };
                let cap = p.cap_remaining.map(|left| left + total(p));
                let text = match cap {
                    Some(cap) => format!("{} / {}", grouped(total(p)), grouped(cap)),
                    None => grouped(total(p)),
                };
                (name, total(p), text, cap)
            })
            .collect();
        let mut binds = Vec::new();
        for (category, c) in &self.categories {
            for (k, b) in Bound::ALL.iter().enumerate() {
                if c.bound[k] > 0 {
                    binds.push((
                        format!("{category} · {} {}", b.short_zh(), b.code().as_str()),
                        Decimal::from(c.bound[k]),
                        c.bound[k].to_string(),
                    ));
                }
            }
        }
        let mut rows = String::new();
        for b in &self.batches {
            let _ = write!(
                rows,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&b.batch_id),
                b.rows_in,
                grouped(b.approved),
                grouped(b.reversed),
                grouped(b.net()),
                escape(&b.signed_by)
            );
        }
        format!(
            r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>服务券年度结算 {year}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #eef3fa; }} .n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.none {{ color: #777; }}
</style>
{responsive}</head>
<body>
<h1>服务券年度结算 Annual settlement — {year}</h1>
<p>年度净额 net for the year {net} 元（{capital}）· 核定 approved {approved} · 冲正追回 taken back {reversed}</p>
<p>应退回款 owed back: 年度新增 newly owed {owed_new} · 退回到账 refunded {refunded} · 抵扣 offset {offset} · 年末余额 balance at year end {owed_at_end}</p>
<div class="scroll">
<table>
<tr><th>批次 batch</th><th>合同行 rows</th><th>核定 approved</th><th>冲正追回 taken back</th><th>净额 net</th><th>签批 signed off</th></tr>
{rows}
</table>
</div>
<h2>各批次支出 Spend per batch</h2>
{spend}
<h2>累计支出与配额合计 Cumulative spend against the sum of quotas</h2>
{cumulative}
<h2>服务商前 20 名与年度上限 Top providers against their cap</h2>
{top}
<h2>各类别起作用的限额 Which cap bound, by category</h2>
{binds}
</body>
</html>
"#,
            year = self.year,
            owed_new = grouped(self.providers.values().map(|p| p.owed_new).sum()),
            refunded = grouped(self.providers.values().map(|p| p.refunded).sum()),
            offset = grouped(self.providers.values().map(|p| p.offset).sum()),
            owed_at_end = grouped(self.providers.values().map(|p| p.owed_at_end).sum()),
            net = grouped(self.net()),
            capital = escape(&to_capital(self.net())),
            approved = grouped(self.approved()),
            reversed = grouped(self.reversed()),
            responsive = RESPONSIVE_STYLE,
            spend = signed_bar_rows(&spend, "#3b7dd8"),
            cumulative = bar_rows(&cumulative, "#2a9d8f"),
            top = signed_bar_rows(&top, "#3b7dd8"),
            binds = bar_rows(&binds, "#e76f51"),
        )
    }
}

/// One of the year's tables.
struct YearTable<'y> {
    stem: &'static str,
    sheet: &'static str,
    columns: Vec<(String, String, Kind)>,
    rows: Vec<Vec<Cell<'y>>>,
}

impl<'y> YearTable<'y> {
    /// Fixed columns, `middle` (one per batch or bound), then fixed ones again.
    fn new(
        stem: &'static str,
        sheet: &'static str,
        before: &[Column],
        middle: Vec<(String, String, Kind)>,
        after: &[Column],
    ) -> YearTable<'y> {
        let fixed = |c: &Column| (c.heading_zh.to_string(), c.name.to_string(), c.kind);
        let columns = before.iter().map(fixed).chain(middle).chain(after.iter().map(fixed)).collect();
        YearTable { stem, sheet, columns, rows: Vec::new() }
    }
}

/// One column per batch of the year: `{prefix}_{batch}`, headed
/// `{heading} {batch}` (or the batch alone).
fn per_batch(ids: &[&str], p: PerBatch) -> Vec<(String, String, Kind)> {
    let heading = |id: &str| if p.heading_zh.is_empty() { id.to_string() } else { format!("{} {id}", p.heading_zh) };
    ids.iter().map(|id| (heading(id), format!("{}_{id}", p.prefix), p.kind)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch whose stored settlements do not add up to its summary stops
    /// the year before anything is written.
    #[test]
    fn totals_that_disagree_with_a_batch_are_refused() {
        let summary: Summary =
            serde_json::from_str(include_str!("../../fixtures/ledger-format-3/batches/000001_2025-Q1/summary.json"))
                .unwrap();
        let facts = BatchFacts {
            batch_id: "2025-Q1".into(),
            cutoff: "2025-03-31".into(),
            summary,
            settlements: Vec::new(),
            reversals: Vec::new(),
            payouts: Vec::new(),
            usage: StoredTable::new(Vec::new()).unwrap(),
            registry_version: String::new(),
            signed_by: String::new(),
            flags: Vec::new(),
        };
        let error = Year::build(2025, &[facts], &BTreeMap::new()).err().expect("refused");
        assert!(error.to_string().contains("settlements 0 ≠ summary 74000.01"), "{error}");
        assert!(error.to_string().contains("nothing written"), "{error}");
    }
}
