//! The spot-check sample (抽查清单) of a committed batch: contracts with a
//! contract flag first, then the contracts behind each provider or
//! enterprise flag (that day's, that pair's, a racing provider's), then a
//! random draw from the other settled contracts, seeded from
//! the batch, its settlements.csv and (with sign-off) the 审批 signature —
//! so that nobody can choose it, and anyone can draw it again.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use crate::engine::BatchOutcome;
use chrono::NaiveDate;
use rayon::prelude::*;

use crate::rules::dates::parse_date;
use crate::rules::risk::{self, Flag, RANDOM, RiskSettings, SampleRow};

/// A batch's sample and how it was drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub rows: Vec<SampleRow>,
    /// The seed (hex), none when no sample is drawn (a dry run, a proposal).
    pub seed: Option<String>,
    /// Whether the seed holds an approver's signature (no one could
    /// choose it) or not (reproducible, but the operator could re-run).
    pub unchoosable: bool,
    /// How many other settled contracts the draw was made from.
    pub drawn_from: usize,
}

impl Sample {
    /// No sample: a dry run's or a proposal's.
    pub fn none() -> Sample {
        Sample { rows: Vec::new(), seed: None, unchoosable: false, drawn_from: 0 }
    }

    /// The method in words, with the seed, for the sheet.
    pub fn method(&self, settings: &RiskSettings) -> Vec<String> {
        let Some(seed) = &self.seed else {
            return vec!["试算或待审批的批次不抽样 (a dry run or a proposal draws no sample)".into()];
        };
        let who = if self.unchoosable {
            "种子含审批人的签名，任何人（包括审批人）都无法选择样本 (the seed holds the 审批 signature: nobody, the approver included, can choose the sample)"
        } else {
            "本作业无签批：种子可重现，但不能排除重算选择 (no sign-off: the seed is reproducible, but not unchoosable)"
        };
        vec![
            format!("种子 seed：{seed}"),
            "种子 = SHA-256(批次号 + 换行 + settlements.csv 的 SHA-256 + 换行 + 审批签名)，十六进制 (seed = SHA-256 of the batch id, LF, the SHA-256 of settlements.csv, LF, the 审批 signature; hex)".into(),
            who.into(),
            format!(
                "先列有合同级提示的合同，再列服务商级、企业级提示所涉合同（该日、该对、该服务商），然后从其余 {} 份已兑付合同（按分配顺序 seq 编号 0…n−1）中随机抽取 {}（{} 向上取整，至少 {} 份，不足则全部） \
                 (flagged contracts first, then the contracts behind provider and enterprise flags, then a draw from the other {} settled contracts numbered 0…n−1 in seq order: {} of them, at least {}, or all)",
                self.drawn_from,
                risk::sample_size(self.drawn_from, settings),
                settings.sample_rate,
                settings.sample_min,
                self.drawn_from,
                settings.sample_rate,
                settings.sample_min
            ),
            "抽取方法：对 i = 0,1,…,k−1，取 SHA-256(种子 + \":\" + i) 前 8 字节为无符号整数 h，j = i + h mod (n − i)，交换第 i 与第 j 个 (draw: for i = 0…k−1, h = first 8 bytes of SHA-256(\"<seed>:<i>\") as a big-endian unsigned number, j = i + h mod (n − i), swap positions i and j; the first k positions are the sample)".into(),
        ]
    }
}

/// What each settlement row is behind, by the batch's registry indexes:
/// its own contract flags, and the provider and enterprise findings whose
/// evidence it is — the provider's contracts of a F_SAME_DAY_BULK day, the
/// pair's contracts of a F_CONCENTRATION, every contract of a F_CAP_RACE
/// provider.
#[derive(Default)]
struct Behind {
    rows: FxHashMap<u32, Vec<&'static str>>,
    days: FxHashMap<(u32, NaiveDate), &'static str>,
    pairs: FxHashMap<(u32, u32), &'static str>,
    providers: FxHashMap<u32, &'static str>,
}

impl Behind {
    fn of(outcome: &BatchOutcome) -> Behind {
        let mut behind = Behind::default();
        for r in &outcome.risk {
            let (code, at) = (r.flag.code(), r.subject);
            match (r.flag, at.row, at.provider, at.enterprise) {
                (_, Some(row), _, _) => behind.rows.entry(row).or_default().push(code),
                (Flag::SameDayBulk, None, Some(p), _) => {
                    if let Some(day) = r.value.split(':').next().and_then(parse_date) {
                        behind.days.insert((p, day), code);
                    }
                }
                (Flag::Concentration, None, Some(p), Some(e)) => {
                    behind.pairs.insert((p, e), code);
                }
                (_, None, Some(p), _) => {
                    behind.providers.insert(p, code);
                }
                _ => {}
            }
        }
        behind
    }

    /// The codes settlement row `i` is in the sample for, if any, and
    /// whether they are its own (contract flags) rather than a finding's.
    fn codes(&self, i: u32, (provider, enterprise, day): (u32, u32, NaiveDate)) -> Option<(String, bool)> {
        if let Some(codes) = self.rows.get(&i) {
            return Some((codes.join(","), true));
        }
        let found: BTreeSet<&str> =
            [self.days.get(&(provider, day)), self.pairs.get(&(provider, enterprise)), self.providers.get(&provider)]
                .into_iter()
                .flatten()
                .copied()
                .collect();
        (!found.is_empty()).then(|| (found.into_iter().collect::<Vec<_>>().join(","), false))
    }
}

/// Draws the batch's sample with this seed (none: no sample).
pub fn draw_sample(outcome: &BatchOutcome, seed: Option<(String, bool)>) -> Sample {
    let Some((seed, unchoosable)) = seed else { return Sample::none() };
    let settlements = &outcome.settlements;
    let settings = settlements.policy().risk();
    let behind = Behind::of(outcome);
    let any = !outcome.risk.is_empty();
    let mut flagged = Vec::new();
    let mut of_findings = Vec::new();
    let mut others = Vec::new();
    for i in 0..settlements.len() {
        let (e, _) = settlements.facts(i);
        let codes =
            any.then(|| behind.codes(i as u32, (e.provider_index, e.enterprise_index, e.completed_on))).flatten();
        match codes {
            Some((codes, true)) => flagged.push((i, codes)),
            Some((codes, false)) => of_findings.push((i, codes)),
            None => others.push(i),
        }
    }
    let k = risk::sample_size(others.len(), settings);
    let drawn = risk::draw(&seed, others.len(), k).into_iter().map(|at| (others[at], RANDOM.to_string()));
    let chosen: Vec<(usize, String)> = flagged.into_iter().chain(of_findings).chain(drawn).collect();
    let mut rows = Vec::new();
    chosen
        .into_par_iter()
        .enumerate()
        .map(|(n, (i, basis))| row(outcome, n as u64 + 1, i, basis))
        .collect_into_vec(&mut rows);
    Sample { rows, seed: Some(seed), unchoosable, drawn_from: others.len() }
}

fn row(outcome: &BatchOutcome, sample_no: u64, i: usize, basis: String) -> SampleRow {
    let settlements = &outcome.settlements;
    let (e, approved) = settlements.facts(i);
    SampleRow {
        sample_no,
        basis,
        contract_id: e.contract.contract_id.to_string(),
        enterprise_id: settlements.enterprise_id_at(e.enterprise_index).to_string(),
        provider_id: settlements.provider_id_at(e.provider_index).unwrap_or_default().to_string(),
        approved_amount: approved,
        seq: i as u64 + 1,
    }
}
