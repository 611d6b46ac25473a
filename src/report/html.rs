//! report.html: one self-contained page (inline CSS and SVG, no external
//! asset, opens offline) with the batch summary, payouts by provider (top
//! 20), quota use by tier and exception counts by code. From ledger format
//! 4 on it reads on any screen from 360 px up (each bar a row of its own
//! that scales, long names shortened with the full name on hover, wide
//! tables scrolling), names every code in Chinese beside it, and prints
//! each heading with its chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::Decimal;

use crate::engine::BatchOutcome;
use crate::ledger::Format;
use crate::report::capital::to_capital;
use crate::report::figures::{self, MoneyFigures};
use crate::report::{SignoffStamp, Summary};
use crate::rules::codes::Code;
use crate::rules::money::format_money;
use crate::rules::outputs::PayoutRow;

/// Escapes text for HTML element content and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Thousands separators for display: 1234567.89 -> 1,234,567.89.
pub(super) fn grouped(amount: Decimal) -> String {
    let text = format_money(amount);
    let (sign, body) = text.strip_prefix('-').map_or(("", text.as_str()), |b| ("-", b));
    let (integer, fraction) = body.split_once('.').unwrap_or((body, "00"));
    let mut out = String::new();
    for (i, c) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}.{fraction}")
}

/// A horizontal bar chart as inline SVG; `bars` are (label, value, value text).
fn bar_chart(bars: &[(String, Decimal, String)], color: &str) -> String {
    if bars.is_empty() {
        return "<p class=\"none\">无 none</p>".to_string();
    }
    let max = bars.iter().map(|(_, v, _)| *v).max().unwrap_or(Decimal::ONE).max(Decimal::new(1, 2));
    let (label_width, bar_width, row_height) = (300, 420, 24);
    let height = bars.len() * row_height + 10;
    let mut svg = format!(
        "<svg role=\"img\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        label_width + bar_width + 140,
        label_width + bar_width + 140
    );
    for (i, (label, value, text)) in bars.iter().enumerate() {
        let y = i * row_height + 5;
        // Bar length in whole pixels, from the exact ratio.
        let length = (*value * Decimal::from(bar_width) / max).round().to_string().parse::<u32>().unwrap_or(0).max(1);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"label\">{}</text>\
             <rect x=\"{}\" y=\"{y}\" width=\"{length}\" height=\"{}\" fill=\"{color}\"><title>{}: {}</title></rect>\
             <text x=\"{}\" y=\"{}\" class=\"value\">{}</text>",
            label_width - 8,
            y + 16,
            escape(label),
            label_width,
            row_height - 6,
            escape(label),
            escape(text),
            label_width + length as usize + 6,
            y + 16,
            escape(text)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Bars that scale with the page (format 4 on): each a row of a label
/// (shortened on narrow screens, in full on hover), a bar drawn as an SVG
/// that stretches with the row, and its value.
pub(super) fn bar_rows(bars: &[(String, Decimal, String)], color: &str) -> String {
    let bars: Vec<SignedBar> =
        bars.iter().map(|(label, value, text)| (label.clone(), *value, text.clone(), None)).collect();
    signed_bar_rows(&bars, color)
}

/// A bar of a signed amount: label, amount, its text, and what a full bar
/// stands for (a provider's cap); `None`: the largest amount of the chart.
pub(super) type SignedBar = (String, Decimal, String, Option<Decimal>);

/// Bars of signed amounts that scale with the page: each the share of its
/// own bound, or of the chart's largest magnitude; a negative amount is
/// drawn red and its value marked 应退回 (owed back), never as a small
/// positive bar.
pub(super) fn signed_bar_rows(bars: &[SignedBar], color: &str) -> String {
    if bars.is_empty() {
        return "<p class=\"none\">无 none</p>".to_string();
    }
    let largest = bars.iter().map(|b| b.1.abs()).max().unwrap_or(Decimal::ONE).max(Decimal::new(1, 2));
    let mut html = String::from("<div class=\"bars\">");
    for (label, value, text, bound) in bars {
        let scale = bound.filter(|b| *b > Decimal::ZERO).unwrap_or(largest);
        let share = (value.abs() * Decimal::from(1000) / scale).min(Decimal::from(1000));
        let length = share.round().to_string().parse::<u32>().unwrap_or(0).max(5);
        let (fill, text) = if value.is_sign_negative() && !value.is_zero() {
            ("#b00020", format!("{text}（应退回 owed back）"))
        } else {
            (color, text.clone())
        };
        let (label, text) = (escape(label), escape(&text));
        let _ = write!(
            html,
            "<div class=\"bar\"><span class=\"label\" title=\"{label}\">{label}</span>\
             <svg viewBox=\"0 0 1000 10\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{label}: {text}\">\
             <rect width=\"{length}\" height=\"10\" fill=\"{fill}\"><title>{label}: {text}</title></rect></svg>\
             <span class=\"value\">{text}</span></div>"
        );
    }
    html.push_str("</div>");
    html
}

/// A code with its meaning in Chinese beside it.
fn code_label(code: &str) -> String {
    match Code::parse(code) {
        Some(known) => format!("{code} {}", known.text_zh()),
        None => code.to_string(),
    }
}

/// What format 4 adds to the page's head: the viewport, and the styles of
/// narrow screens and print.
pub(super) const RESPONSIVE_STYLE: &str = r#"<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { margin: 16px; max-width: 1100px; }
.scroll { overflow-x: auto; max-width: 100%; }
td, th { overflow-wrap: break-word; } td.n, .ok, .bad { white-space: nowrap; }
.bars { max-width: 900px; }
.bar { display: flex; align-items: center; gap: 8px; margin: 3px 0; font-size: 13px; }
.bar .label { flex: 0 0 38%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; text-align: right; }
.bar svg { flex: 1 1 0; min-width: 40px; height: 14px; }
.bar .value { flex: 0 0 auto; min-width: 5em; font-variant-numeric: tabular-nums; }
@media (max-width: 600px) {
  body { margin: 8px; }
  .bar { flex-wrap: wrap; }
  .bar .label { flex: 1 1 100%; text-align: left; }
  .card { min-width: 0; flex: 1 1 40%; }
}
@media print {
  h2 { break-after: avoid; page-break-after: avoid; }
  .bars, table, .cards { break-inside: avoid; page-break-inside: avoid; }
  .scroll { overflow: visible; }
}
</style>
"#;

/// The report page; a dry run's says 试算 (dry run, not for payment) in its
/// title and in a banner above everything else, a proposal's says 待审批
/// (awaiting sign-off) with its proposal hash, and a signed batch's lists
/// who approved it.
/// `format` is the batch's ledger format (its layout, see the module).
pub fn report_html(
    outcome: &BatchOutcome,
    summary: &Summary,
    (dry_run, signoff): (bool, Option<&SignoffStamp>),
    format: u32,
) -> String {
    let page = report_page(
        outcome,
        summary,
        Look { responsive: Format(format).reads_and_prints(), audit: Format(format).audit_flags() },
    );
    let page = match signoff {
        Some(stamp) if !dry_run => with_signoff(page, stamp),
        _ => page,
    };
    if !dry_run {
        return page;
    }
    const BANNER: &str = "<div style=\"border:3px solid #b00020;color:#b00020;font-size:20px;font-weight:bold;padding:8px 12px;margin-bottom:16px\">试算 DRY RUN — 未提交账本，不得用于付款 (not committed; not for payment)</div>\n";
    page.replacen("<title>", "<title>试算 DRY RUN ", 1).replacen("<body>\n", &format!("<body>\n{BANNER}"), 1)
}

/// A proposal's banner (待审批, with its proposal hash), or a signed
/// batch's approvals, on the page.
fn with_signoff(page: String, stamp: &SignoffStamp) -> String {
    let lines: String = stamp.heading_lines().iter().map(|l| format!("<div>{}</div>", escape(l))).collect();
    if stamp.is_proposal() {
        let banner = format!(
            "<div style=\"border:3px solid #b00020;color:#b00020;padding:8px 12px;margin-bottom:16px\"><div style=\"font-size:20px;font-weight:bold\">待审批 AWAITING SIGN-OFF — 不得用于付款 (not committed; not for payment)</div>{lines}</div>\n"
        );
        return page.replacen("<title>", "<title>待审批 ", 1).replacen("<body>\n", &format!("<body>\n{banner}"), 1);
    }
    let rows: String = stamp
        .approval_lines()
        .iter()
        .map(|(role, line)| format!("<tr><td>{}</td><td>{}</td></tr>", escape(role), escape(line)))
        .collect();
    let section = format!(
        "<h2>签批 Sign-off</h2>\n{lines}\n<table><tr><th>角色 role</th><th>签批 approval</th></tr>{rows}</table>\n</body>"
    );
    page.replacen("</body>", &section, 1)
}

/// What the batch's ledger format asks of the page: from format 4 on it
/// reads on any screen (see the module).
#[derive(Clone, Copy)]
struct Look {
    responsive: bool,
    /// Risk flags have a section (ledger format 5 on).
    audit: bool,
}

impl Look {
    fn chart(self, bars: &[(String, Decimal, String)], color: &str) -> String {
        if self.responsive { bar_rows(bars, color) } else { bar_chart(bars, color) }
    }

    /// What goes around a wide table: a box that scrolls on a narrow screen.
    fn scroll(self) -> (&'static str, &'static str) {
        if self.responsive { ("<div class=\"scroll\">\n", "\n</div>") } else { ("", "") }
    }

    /// A code as the page names it: with its Chinese meaning beside it.
    fn code(self, code: &str) -> String {
        if self.responsive { code_label(code) } else { code.to_string() }
    }

    fn style(self) -> &'static str {
        if self.responsive { RESPONSIVE_STYLE } else { "" }
    }
}

/// A control total's result.
fn mark(holds: bool) -> &'static str {
    if holds { "<span class=\"ok\">✓ 平衡 holds</span>" } else { "<span class=\"bad\">✗ 不平 FAILS</span>" }
}

fn report_page(outcome: &BatchOutcome, summary: &Summary, look: Look) -> String {
    let (open, close) = look.scroll();
    let s = summary;
    let c = &s.control_totals;
    let mut payouts: Vec<_> = outcome.payouts.iter().collect();
    payouts
        .sort_by(|a, b| b.approved_amount_batch.cmp(&a.approved_amount_batch).then(a.provider_id.cmp(&b.provider_id)));
    let payout_bars: Vec<(String, Decimal, String)> = payouts
        .iter()
        .take(20)
        .map(|p| {
            let name = if p.provider_name.is_empty() { p.provider_id.clone() } else { p.provider_name.clone() };
            (name, p.approved_amount_batch, grouped(p.approved_amount_batch))
        })
        .collect();
    let code_bars: Vec<(String, Decimal, String)> =
        s.codes.iter().map(|(code, n)| (look.code(code), Decimal::from(*n), n.to_string())).collect();

    // Quota use by tier: enterprises, quota, used this batch, used in the year.
    let mut tiers: BTreeMap<u32, (u64, Decimal, Decimal, Decimal)> = BTreeMap::new();
    for u in outcome.usage.iter().filter(|u| u.listed()) {
        let entry = tiers.entry(u.tier_number).or_default();
        entry.0 += 1;
        entry.1 += u.quota;
        entry.2 += u.used_batch;
        entry.3 += u.used_after;
    }
    let mut tier_rows = String::new();
    let mut tier_bars = Vec::new();
    for (tier, (count, quota, used_batch, used_after)) in &tiers {
        let share =
            if quota.is_zero() { Decimal::ZERO } else { (*used_after * Decimal::from(100) / *quota).round_dp(1) };
        let _ = write!(
            tier_rows,
            "<tr><td>第{tier}档 tier {tier}</td><td class=\"n\">{count}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{share}%</td></tr>",
            grouped(*quota),
            grouped(*used_batch),
            grouped(*used_after)
        );
        tier_bars.push((format!("第{tier}档 tier {tier}"), share, format!("{share}%")));
    }
    let approved: Decimal = s.approved_total.parse().unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>服务券兑付结算报告 {batch}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #ccd; border-radius: 6px; padding: 10px 14px; min-width: 150px; }}
.card .v {{ font-size: 20px; font-weight: bold; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
th {{ background: #eef3fa; }} .n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.ok {{ color: #0a7a2f; font-weight: bold; }} .bad {{ color: #b00020; font-weight: bold; }}
svg .label {{ font-size: 12px; }} svg .value {{ font-size: 12px; fill: #333; }}
.none {{ color: #777; }} .meta {{ color: #555; }}
</style>
{responsive_style}</head>
<body>
<h1>服务券兑付结算报告 Settlement report — {batch}</h1>
<p class="meta">服务年度 service year {year} · 截止 cutoff {cutoff} · 政策 policy {policy}</p>
<div class="cards">
<div class="card"><div>合同行 contract rows</div><div class="v">{rows_in}</div></div>
<div class="card"><div>全额兑付 settled</div><div class="v">{settled}</div></div>
<div class="card"><div>部分兑付 reduced</div><div class="v">{reduced}</div></div>
<div class="card"><div>拒绝 rejected</div><div class="v">{rejected}</div></div>
<div class="card"><div>核定金额 approved (元)</div><div class="v">{approved}</div><div>{approved_capital}</div></div>
<div class="card"><div>兑付服务商 providers paid</div><div class="v">{providers}</div></div>
{money_cards}</div>
<h2>控制总数 Control totals</h2>
{open}<table>
<tr><th>检查 check</th><th>数值 values</th><th>结果 result</th></tr>
<tr><td>合同行 = 兑付行 + 错误行 rows in = settled + errors</td><td class="n">{c_in} = {c_settled} + {c_errors}</td><td>{m_rows}</td></tr>
<tr><td>{approved_label}</td><td class="n">{c_approved} = {c_payouts}</td><td>{m_payouts}</td></tr>
<tr><td>年度累计不超上限 year-to-date within caps</td><td class="n">{c_caps} checked</td><td>{m_caps}</td></tr>
<tr><td>每行核定 ≤ 申报且 ≤ 比例限额 approved ≤ claim and ≤ rate limit</td><td></td><td>{m_rate}</td></tr>
{money_controls}</table>{close}
<h2>{payout_heading}</h2>
{payout_chart}
<h2>按配额档的配额使用 Quota use by tier</h2>
{open}<table>
<tr><th>配额档 tier</th><th>企业数 enterprises</th><th>配额合计 quota</th><th>本批使用 used this batch</th><th>年度累计 used this year</th><th>使用率 share used</th></tr>
{tier_rows}
</table>{close}
{tier_chart}
<h2>异常代码统计 Exceptions by code</h2>
{code_chart}
{corrections}{owed}</body>
</html>
"#,
        batch = escape(&s.batch_id),
        year = s.service_year,
        cutoff = escape(&s.cutoff),
        policy = escape(&s.policy),
        rows_in = s.contract_rows_in,
        settled = s.settled,
        reduced = s.settled_reduced,
        rejected = s.rejected,
        approved = grouped(approved),
        approved_capital = escape(&to_capital(approved)),
        providers = s.providers_paid,
        c_in = c.contract_rows_in,
        c_settled = c.settlement_rows,
        c_errors = c.contract_error_rows,
        m_rows = mark(c.rows_balance),
        c_approved = escape(&c.approved_total),
        c_payouts = escape(&c.payouts_total),
        m_payouts = mark(c.payouts_balance),
        c_caps = c.caps_checked,
        m_caps = mark(c.caps_hold),
        m_rate = mark(c.rows_within_claim_and_rate),
        payout_chart = match &s.money {
            Some(_) => signed_bar_rows(&net_bars(&outcome.payouts), "#3b7dd8"),
            None => look.chart(&payout_bars, "#3b7dd8"),
        },
        payout_heading = match &s.money {
            Some(_) => "服务商本批净额（前 20，负数为应退回） Net per provider (top 20; negative: owed back)",
            None => "服务商兑付金额（前 20） Payouts by provider (top 20)",
        },
        approved_label = match &s.money {
            Some(_) => "核定合计 = 各服务商核定之和 approved = Σ providers' approved",
            None => "核定合计 = 兑付清单合计 approved = payouts",
        },
        money_cards = s.money.as_ref().map_or_else(String::new, money_cards),
        money_controls = s.money.as_ref().map_or_else(String::new, money_controls),
        tier_rows = tier_rows,
        tier_chart = look.chart(&tier_bars, "#2a9d8f"),
        code_chart = look.chart(&code_bars, "#e76f51"),
        corrections = corrections_section(s, look),
        owed = owed_section(outcome, look) + &risk_section(outcome, look),
        responsive_style = look.style(),
    )
}

/// Each provider's net for the batch (ledger format 5 on), the 20 largest
/// by magnitude: what it is paid, or — drawn red — what it owes back.
fn net_bars(payouts: &[PayoutRow]) -> Vec<SignedBar> {
    let mut by_net: Vec<&PayoutRow> = payouts.iter().filter(|p| p.in_batch()).collect();
    by_net.sort_by(|a, b| {
        b.net_amount_batch().abs().cmp(&a.net_amount_batch().abs()).then(a.provider_id.cmp(&b.provider_id))
    });
    by_net
        .iter()
        .take(20)
        .map(|p| {
            let name = if p.provider_name.is_empty() { p.provider_id.clone() } else { p.provider_name.clone() };
            (name, p.net_amount_batch(), grouped(p.net_amount_batch()), None)
        })
        .collect()
}

/// The money cards (ledger format 5 on): net, and what each list pays or claims.
fn money_cards(m: &MoneyFigures) -> String {
    let amount = |text: &str| grouped(Decimal::from_str_exact(text).unwrap_or_default());
    format!(
        "<div class=\"card\"><div>冲正追回 taken back (元)</div><div class=\"v\">{}</div></div>\n\
         <div class=\"card\"><div>本批净额 net (元)</div><div class=\"v\">{}</div></div>\n\
         <div class=\"card\"><div>兑付清单应付 to pay (元)</div><div class=\"v\">{}</div><div>{}</div></div>\n\
         <div class=\"card\"><div>追回清单应退回 owed back (元)</div><div class=\"v\">{}</div></div>\n",
        amount(&m.taken_back),
        amount(&m.net),
        amount(&m.to_pay),
        escape(&to_capital(Decimal::from_str_exact(&m.to_pay).unwrap_or_default())),
        amount(&m.owed_back)
    ) + &m.owed.as_ref().map_or_else(String::new, |o| {
        format!(
            "<div class=\"card\"><div>本批抵扣 offset (元)</div><div class=\"v\">{}</div></div>\n\
             <div class=\"card\"><div>兑付清单实付 paid (元)</div><div class=\"v\">{}</div><div>{}</div></div>\n\
             <div class=\"card\"><div>本批退回到账 refunded (元)</div><div class=\"v\">{}</div></div>\n\
             <div class=\"card\"><div>此后应退回余额 owed after (元)</div><div class=\"v\">{}</div></div>\n\
             <div class=\"card\"><div>待核对到账款 unmatched (元)</div><div class=\"v\">{}</div><div>{} 笔 rows</div></div>\n",
            amount(&o.offset),
            amount(&o.paid),
            escape(&to_capital(Decimal::from_str_exact(&o.paid).unwrap_or_default())),
            amount(&o.refunded),
            amount(&o.owed_after),
            amount(&o.unmatched),
            o.refunds_unmatched
        )
    })
}

/// The control rows of the batch's money (ledger format 5 on).
fn money_controls(m: &MoneyFigures) -> String {
    let (holds_net, holds_lists) = m.balances();
    format!(
        "<tr><td>核定 − 冲正追回 = 净额 approved − taken back = net</td><td class=\"n\">{} − {} = {}</td><td>{}</td></tr>\n\
         <tr><td>应付合计 − 应退回合计 = 净额 to pay − owed back = net</td><td class=\"n\">{} − {} = {}</td><td>{}</td></tr>\n",
        escape(&m.approved),
        escape(&m.taken_back),
        escape(&m.net),
        mark(holds_net),
        escape(&m.to_pay),
        escape(&m.owed_back),
        escape(&m.net),
        mark(holds_lists)
    ) + &m.owed_balances().map_or_else(String::new, |(paid, moved)| {
        let o = m.owed.as_ref().expect("owed figures with their balances");
        format!(
            "<tr><td>应付合计 − 抵扣 = 实付 to pay − offset = paid</td><td class=\"n\">{} − {} = {}</td><td>{}</td></tr>\n\
             <tr><td>此后余额 = 此前 + 新增 − 退回 − 抵扣 owed after = before + new − refunded − offset</td><td class=\"n\">{} = {} + {} − {} − {}</td><td>{}</td></tr>\n",
            escape(&m.to_pay),
            escape(&o.offset),
            escape(&o.paid),
            mark(paid),
            escape(&o.owed_after),
            escape(&o.owed_before),
            escape(&o.owed_new),
            escape(&o.refunded),
            escape(&o.offset),
            mark(moved)
        )
    })
}

/// 应退款台账 (ledger format 5 on): every provider with a balance owed back,
/// its movements and the batches since it last owed nothing — the rows of
/// the workbook's 追回清单 balances and 应退款台账, chosen by
/// `figures::with_balance`.
/// 风险提示: counts by flag, then the first rows (risk.csv has them all).
fn risk_section(outcome: &BatchOutcome, look: Look) -> String {
    if !look.audit {
        return String::new();
    }
    let mut counts = String::new();
    for flag in crate::rules::risk::Flag::ALL {
        let n = outcome.risk.iter().filter(|r| r.flag == flag).count();
        let _ =
            writeln!(counts, "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>", flag.code(), flag.meaning_zh());
    }
    let mut rows = String::new();
    for r in outcome.risk.iter().take(100) {
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.flag.code(),
            escape(&r.contract_id),
            escape(&r.provider_id),
            escape(&r.enterprise_id),
            escape(&r.message)
        );
    }
    let more = if outcome.risk.len() > 100 {
        format!("<p>仅列前 100 条，全部 {} 条见 risk.csv (first 100 shown; all in risk.csv)</p>\n", outcome.risk.len())
    } else {
        String::new()
    };
    let (open, close) = look.scroll();
    format!(
        "<h2>风险提示 Risk flags</h2>\n<p>供核查的线索，不改变金额，也不是结论 (findings to check: they change no money and prove nothing)</p>\n<table>\n<tr><th>提示 flag</th><th>含义 meaning</th><th>条数 count</th></tr>\n{counts}</table>\n{open}<table>\n<tr><th>提示 flag</th><th>合同 contract</th><th>服务商 provider</th><th>企业 enterprise</th><th>说明 message</th></tr>\n{rows}</table>{close}\n{more}"
    )
}

fn owed_section(outcome: &BatchOutcome, look: Look) -> String {
    if !outcome.owed_balances {
        return String::new();
    }
    let mut rows = String::new();
    for p in figures::with_balance(&outcome.payouts) {
        let o = &p.owed;
        let name = if p.provider_name.is_empty() { &p.provider_id } else { &p.provider_name };
        let since = outcome.owing_since.get(&p.provider_id).map_or_else(String::new, |b| b.join("、"));
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(name),
            escape(&p.provider_id),
            grouped(o.owed_before),
            grouped(o.owed_new),
            grouped(o.refunded_batch),
            grouped(o.offset_batch),
            grouped(o.owed_after),
            escape(&since)
        );
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"8\">无应退回余额 (no balance owed back)</td></tr>\n");
    }
    let (open, close) = look.scroll();
    format!(
        "<h2>应退款台账 Balances owed back</h2>\n{open}<table>\n<tr><th>服务商 provider</th><th>信用代码 id</th><th>此前余额 before</th><th>本批新增 new</th><th>退回到账 refunded</th><th>抵扣 offset</th><th>此后余额 after</th><th>欠款以来批次 owing since</th></tr>\n{rows}</table>{close}\n"
    )
}

/// The corrections of the batch (rules 9.4), by action and by code, with
/// their control totals; nothing for a batch without a corrections input.
fn corrections_section(s: &Summary, look: Look) -> String {
    let (Some(summary), Some(k)) = (&s.corrections, &s.control_totals.corrections) else {
        return String::new();
    };
    let mut rows = String::new();
    for (action, n) in &summary.applied {
        let _ = write!(rows, "<tr><td>执行 applied: {}</td><td class=\"n\">{n}</td></tr>", escape(action));
    }
    for (code, n) in &summary.codes {
        let _ = write!(rows, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", escape(&look.code(code)));
    }
    let (open, close) = look.scroll();
    let reversed: Decimal = summary.reversed_total.parse().unwrap_or_default();
    let owed: Decimal = summary.owed_total.parse().unwrap_or_default();
    format!(
        r#"<h2>更正（冲正、追回、暂缓） Corrections</h2>
<p>更正记录 correction rows {rows_in} · 冲正追回合计 taken back {reversed} 元 · 应退回服务商 providers owing back {owing}（{owed} 元，{owed_capital}）</p>
{open}<table>
<tr><th>处理方式或代码 action or code</th><th>行数 rows</th></tr>
{rows}
</table>{close}
{open}<table>
<tr><th>检查 check</th><th>数值 values</th><th>结果 result</th></tr>
<tr><td>更正行 = 冲正追回 + 错误 + 暂缓 + 未用暂缓 + 重复 rows in = reversals + errors + holds + unused holds + duplicates</td><td class="n">{c_in} = {c_rev} + {c_err} + {c_held} + {c_unused} + {c_dup}</td><td>{m_rows}</td></tr>
<tr><td>核定 − 冲正追回 = 净额 approved − taken back = net</td><td class="n">{approved} − {c_reversed} = {c_net}</td><td>{m_net}</td></tr>
</table>{close}
"#,
        rows_in = summary.rows_in,
        reversed = grouped(reversed),
        owing = summary.providers_owing,
        owed = grouped(owed),
        owed_capital = escape(&to_capital(owed)),
        c_in = k.correction_rows_in,
        c_rev = k.reversal_rows,
        c_err = k.correction_error_rows,
        c_held = k.holds_used,
        c_unused = k.holds_unused,
        c_dup = k.duplicate_rows,
        m_rows = mark(k.rows_balance),
        approved = escape(&s.control_totals.approved_total),
        c_reversed = escape(&k.reversed_total),
        c_net = escape(&k.net_total),
        m_net = mark(k.net_balance),
    )
}
