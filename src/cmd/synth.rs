//! `voucher-settle synth --out DIR --contracts N [--seed S] [--error-rate R]`:
//! a realistic dataset for tests and benchmarks — registries sized to N, the
//! 2025 policy, a job file and one folder per quarter. Heavy buyers and large
//! providers make every cap bind somewhere; rows carry each row-check error
//! of rules 4.1 at the given rate. The same arguments give the same bytes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::rules::category::Category;
use crate::rules::codes::Code;
use crate::rules::uscc::{ALPHABET, check_character};
use crate::{Error, Result, frame};

/// 生成合成测试数据 Write a synthetic dataset (registries, policy, job, contracts per quarter).
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// 写入的目录 The folder to write into (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// 合同总行数 Contract rows in all, split evenly over the quarters.
    #[arg(long)]
    pub contracts: u64,
    /// 随机种子 Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 含错误的行比例（0 到 1） Share of contract rows carrying an error, 0 to 1.
    #[arg(long, default_value_t = 0.05)]
    pub error_rate: f64,
    /// 季度数（1 到 4） How many quarters of 2025 (1 to 4); later quarters re-export some earlier contracts.
    #[arg(long, default_value_t = 1)]
    pub quarters: u32,
    /// 合同文件格式：csv 或 parquet Format of the contracts files: csv or parquet.
    #[arg(long, default_value = "csv")]
    pub format: String,
}

/// SplitMix64: small, fast and fixed forever, so a seed always gives the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, n).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// In [0, 1), as a whole number of millionths (no float touches the data).
    fn millionths(&mut self) -> u64 {
        self.below(1_000_000)
    }
    /// Skewed toward 0: a few indexes get most of the picks (heavy buyers, large providers).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = self.millionths();
        (n * (u * u / 1_000_000) * u / 1_000_000_000_000).min(n.saturating_sub(1))
    }
    fn chance(&mut self, millionths: u64) -> bool {
        self.millionths() < millionths
    }
}

/// A valid USCC from a kind prefix and an index.
fn uscc(kind: u8, index: u64) -> String {
    let mut body = format!("91450{}", kind as char).into_bytes();
    let mut rest = index;
    let mut tail = [b'0'; 11];
    for slot in tail.iter_mut().rev() {
        *slot = ALPHABET[(rest % 31) as usize];
        rest /= 31;
    }
    body.extend_from_slice(&tail);
    body.push(check_character(&body).expect("a body from the alphabet"));
    String::from_utf8(body).expect("ASCII")
}

/// Codes that rows are made to carry (rules 4.1). `E_CATEGORY_NOT_COVERED`
/// cannot occur: the 2025 policy covers every category.
const INJECTED: [Code; 28] = [
    Code::E_ROW_MALFORMED,
    Code::E_FIELD_MISSING,
    Code::E_DUPLICATE_ROW,
    Code::E_DUPLICATE_CONFLICT,
    Code::E_BAD_USCC,
    Code::E_FIELD_INVALID,
    Code::E_ALREADY_SETTLED,
    Code::E_SETTLED_CHANGED,
    Code::E_OTHER_SERVICE_YEAR,
    Code::E_NOT_COMPLETED,
    Code::E_DATE_ORDER,
    Code::E_AFTER_CUTOFF,
    Code::E_UNKNOWN_ENTERPRISE,
    Code::E_NOT_MANUFACTURING,
    Code::E_NOT_ABOVE_SCALE,
    Code::E_LARGE_ENTERPRISE,
    Code::E_UNKNOWN_PROVIDER,
    Code::E_SELF_DEALING,
    Code::E_PROVIDER_REVOKED,
    Code::E_PROVIDER_SUSPENDED,
    Code::E_PROVIDER_NOT_SIGNED,
    Code::E_UNKNOWN_PRODUCT,
    Code::E_PRODUCT_PROVIDER_MISMATCH,
    Code::E_CATEGORY_MISMATCH,
    Code::E_NO_CLAIM,
    Code::E_AMOUNT_MISMATCH,
    Code::E_DEPOSIT_SHORT,
    Code::E_BALANCE_UNPAID,
];

/// Sizes of the registries for N contracts.
struct Sizes {
    enterprises: u64,
    providers: u64,
}

/// Small pools of registry rows that fail one check each.
const POOL: u64 = 8;
const PRODUCTS_PER_PROVIDER: u64 = 5;

/// Kind letters of the generated codes: eligible enterprises, the ineligible
/// pools, providers, and codes in no registry.
const ENTERPRISE: u8 = b'1';
const NOT_MANUFACTURING: u8 = b'2';
const NOT_ABOVE_SCALE: u8 = b'3';
const LARGE: u8 = b'4';
const PROVIDER: u8 = b'5';
const SUSPENDED: u8 = b'6';
const REVOKED: u8 = b'7';
const LATE_SIGNED: u8 = b'8';
const NOWHERE: u8 = b'9';

pub fn run(args: &SynthArgs) -> Result<String> {
    if !(0.0..=1.0).contains(&args.error_rate) || !(1..=4).contains(&args.quarters) {
        return Err(Error::Input("--error-rate must be in [0, 1] and --quarters in 1..=4".into()));
    }
    let parquet = match args.format.as_str() {
        "csv" => false,
        "parquet" => true,
        other => return Err(Error::Input(format!("--format {other}: csv or parquet"))),
    };
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    let sizes = Sizes { enterprises: (args.contracts / 3).max(50), providers: (args.contracts / 200).max(20) };
    let mut rng = Rng(args.seed);
    write(out, "policy.toml", include_str!("../../jobs/policy/gx-2025.toml").as_bytes())?;
    write(out, "enterprises.csv", enterprises(&sizes, &mut rng).as_bytes())?;
    write(out, "designations.csv", designations(&sizes, &mut rng).as_bytes())?;
    write(out, "providers.csv", providers(&sizes, &mut rng).as_bytes())?;
    write(out, "products.csv", products(&sizes, &mut rng).as_bytes())?;
    let extension = if parquet { "parquet" } else { "csv" };
    write(out, "job.toml", job(extension).as_bytes())?;

    let error_millionths = (args.error_rate * 1_000_000.0).round() as u64;
    let mut generator = Contracts { rng, sizes, error_millionths, earlier: Vec::new(), serial: 0 };
    let per_quarter = args.contracts / u64::from(args.quarters);
    for quarter in 1..=args.quarters {
        let rows = if quarter == args.quarters {
            args.contracts - per_quarter * u64::from(args.quarters - 1)
        } else {
            per_quarter
        };
        let lines = generator.quarter(quarter, rows);
        let dir = out.join(format!("2025-Q{quarter}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        if parquet {
            let bytes = frame::text_parquet(&CONTRACT_HEADER.split(',').collect::<Vec<_>>(), &lines)?;
            write(&dir, "contracts.parquet", &bytes)?;
        } else {
            let mut text = String::with_capacity(lines.len() * 160);
            text.push_str(CONTRACT_HEADER);
            text.push('\n');
            for line in &lines {
                push_csv_line(&mut text, line);
            }
            write(&dir, "contracts.csv", text.as_bytes())?;
        }
    }
    Ok(format!(
        "{} contracts in {} quarter(s), {} enterprises, {} providers written to {}",
        args.contracts,
        args.quarters,
        generator.sizes.enterprises,
        generator.sizes.providers,
        out.display()
    ))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| Error::write(&path, e))?);
    file.write_all(bytes).map_err(|e| Error::write(&path, e))
}

fn job(extension: &str) -> String {
    format!(
        "[job]\nservice_year = 2025\npolicy = \"policy.toml\"\nledger = \"ledger\"\noutput = \"out/{{batch}}\"\n\n[inputs]\n\
         contracts = \"{{batch}}/contracts.{extension}\"\nenterprises = \"enterprises.csv\"\ndesignations = \"designations.csv\"\n\
         providers = \"providers.csv\"\nproducts = \"products.csv\"\n"
    )
}

const CONTRACT_HEADER: &str = "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on";

fn push_csv_line(text: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        if field.contains([',', '"', '\n']) {
            let _ = write!(text, "\"{}\"", field.replace('"', "\"\""));
        } else {
            text.push_str(field);
        }
    }
    text.push('\n');
}

fn enterprises(sizes: &Sizes, rng: &mut Rng) -> String {
    let mut text = String::from("enterprise_id,name,industry_code,size_class,above_scale,above_scale_since\n");
    let sizes_classes = ["medium", "small", "small", "micro", "中型", "小型"];
    for i in 0..sizes.enterprises {
        let division = 13 + rng.below(31);
        let since = if rng.chance(150_000) { 2023 + rng.below(2) } else { 2000 + rng.below(23) };
        let size = sizes_classes[rng.below(sizes_classes.len() as u64) as usize];
        let _ = writeln!(
            text,
            "{},合成制造企业{i:07}有限公司,C{division}{:02},{size},true,{since}",
            uscc(ENTERPRISE, i),
            rng.below(100)
        );
    }
    for i in 0..POOL {
        let _ = writeln!(text, "{},合成物流企业{i}有限公司,G5411,small,true,2010", uscc(NOT_MANUFACTURING, i));
        let _ = writeln!(text, "{},合成小微企业{i}有限公司,C3311,micro,false,", uscc(NOT_ABOVE_SCALE, i));
        let _ = writeln!(text, "{},合成集团{i}有限公司,C2611,large,true,2001", uscc(LARGE, i));
    }
    // Registry problems: an unusable row, an identical duplicate, a conflicting pair.
    let _ = writeln!(text, "91450100BADUSCC000,坏代码企业,C3311,small,true,2010");
    let _ = writeln!(text, "{},合成物流企业0有限公司,G5411,small,true,2010", uscc(NOT_MANUFACTURING, 0));
    let _ = writeln!(
        text,
        "{},冲突企业,C3311,small,true,2010\n{},冲突企业,C3311,medium,true,2010",
        uscc(NOWHERE, 1),
        uscc(NOWHERE, 1)
    );
    text
}

fn designations(sizes: &Sizes, rng: &mut Rng) -> String {
    let codes =
        ["innovative_sme", "gx_digital_workshop", "gx_specialized_sme", "gx_single_champion", "national_little_giant"];
    let mut text = String::from("enterprise_id,designation,valid_from,valid_to\n");
    for i in 0..sizes.enterprises {
        if rng.chance(100_000) {
            let code = codes[rng.below(codes.len() as u64) as usize];
            let _ = writeln!(text, "{},{code},2024-0{}-01,", uscc(ENTERPRISE, i), 1 + rng.below(9));
        }
    }
    let _ = writeln!(text, "{},gx_unlisted_award,2024-01-01,", uscc(ENTERPRISE, 0));
    text
}

fn providers(sizes: &Sizes, rng: &mut Rng) -> String {
    let mut text = String::from("provider_id,name,status,signed_from,signed_to\n");
    for i in 0..sizes.providers {
        let to = if rng.chance(50_000) { "2026-12-31" } else { "" };
        let _ = writeln!(text, "{},合成服务商{i:05},active,2024-{:02}-01,{to}", uscc(PROVIDER, i), 1 + rng.below(12));
    }
    for i in 0..POOL {
        let _ = writeln!(text, "{},暂停服务商{i},suspended,2024-01-01,", uscc(SUSPENDED, i));
        let _ = writeln!(text, "{},取消服务商{i},revoked,2024-01-01,", uscc(REVOKED, i));
        let _ = writeln!(text, "{},新签服务商{i},active,2025-12-01,", uscc(LATE_SIGNED, i));
        // An enterprise that is also a signed provider: buying from itself is self-dealing.
        let _ = writeln!(text, "{},自营服务商{i},active,2024-01-01,", uscc(ENTERPRISE, i));
    }
    text
}

fn product_id(provider: u64, slot: u64) -> String {
    format!("SP{provider:06}{slot}")
}

/// The category of a provider's catalogue slot (fixed, so the contracts can know it).
fn slot_category(provider: u64, slot: u64) -> Category {
    Category::ALL[((provider * 3 + slot) % Category::ALL.len() as u64) as usize]
}

fn products(sizes: &Sizes, rng: &mut Rng) -> String {
    let mut text = String::from("product_id,provider_id,category,name,list_price\n");
    for p in 0..sizes.providers {
        for slot in 0..PRODUCTS_PER_PROVIDER {
            let category = slot_category(p, slot);
            // A guide price at or above every price the contracts draw,
            // except one product in 97 whose guide price is drawn from 2,000
            // up, often below the price agreed (F_PRICE_ABOVE_LIST).
            let highest = if category == Category::Diagnostic { 20_000 } else { 120_000 };
            let list = if (p * PRODUCTS_PER_PROVIDER + slot).is_multiple_of(97) { 2_000 } else { highest };
            let _ = writeln!(
                text,
                "{},{},{},{}{slot},{}.00",
                product_id(p, slot),
                uscc(PROVIDER, p),
                category.code(),
                category.name_zh(),
                list + rng.below(90_000)
            );
        }
    }
    text
}

struct Contracts {
    rng: Rng,
    sizes: Sizes,
    error_millionths: u64,
    /// Valid contracts of earlier quarters, for re-exports.
    earlier: Vec<Vec<String>>,
    serial: u64,
}

fn fen_text(amount_fen: u64) -> String {
    format!("{}.{:02}", amount_fen / 100, amount_fen % 100)
}

/// Day `offset` (0-based) of 2025 as a date.
fn day_of_2025(offset: u64) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(offset as i64)
}

impl Contracts {
    fn quarter(&mut self, quarter: u32, rows: u64) -> Vec<Vec<String>> {
        let first_day = [0u64, 90, 181, 273][quarter as usize - 1];
        let last_day = [89u64, 180, 272, 364][quarter as usize - 1];
        let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows as usize);
        let mut this_quarter = Vec::new();
        for _ in 0..rows {
            let mut row = self.valid_row(first_day, last_day);
            if self.rng.chance(self.error_millionths) {
                let code = INJECTED[self.rng.below(INJECTED.len() as u64) as usize];
                row = self.inject(code, row, lines.last(), first_day, last_day);
            } else if this_quarter.len() < 10_000 {
                this_quarter.push(row.clone());
            }
            lines.push(row);
        }
        self.earlier.extend(this_quarter);
        lines
    }

    fn valid_row(&mut self, first_day: u64, last_day: u64) -> Vec<String> {
        let rng = &mut self.rng;
        self.serial += 1;
        // A quarter of the picks go to a heavy head of buyers and providers.
        let mut pick = |n: u64| if rng.chance(250_000) { rng.skewed(n) } else { rng.below(n) };
        let enterprise = pick(self.sizes.enterprises);
        let provider = pick(self.sizes.providers);
        // Heavy buyers come back to the same product: the item cap binds.
        let slot =
            if enterprise % 3 == 0 { enterprise % PRODUCTS_PER_PROVIDER } else { rng.below(PRODUCTS_PER_PROVIDER) };
        let category = slot_category(provider, slot);
        let (rate_percent, price_fen) = match category {
            Category::Diagnostic => (80, 300_000 + rng.below(1_700_000)),
            _ => (50, 1_000_000 + rng.below(11_000_000)),
        };
        // Mostly claims at the rate; some above it (reduced to the rate limit).
        let mut voucher_fen = price_fen * rate_percent / 100;
        if rng.chance(30_000) {
            voucher_fen = (voucher_fen + price_fen / 20).min(price_fen);
        }
        let contract_fen = price_fen - voucher_fen;
        let deposit_fen = contract_fen * (20 + rng.below(30)) / 100 + 1;
        let deposit_fen = deposit_fen.min(contract_fen);
        let mut balance_fen = contract_fen - deposit_fen;
        if rng.chance(10_000) {
            balance_fen += 100;
        }
        let signed = first_day + rng.below(last_day - first_day + 1);
        let completed = (signed + 3 + rng.below(60)).min(last_day);
        let money = |fen: u64, rng: &mut Rng| match rng.below(10) {
            0 => format!("¥{}", fen_text(fen)),
            1 if fen >= 100_000 => {
                let whole = fen / 100;
                format!("{},{:03}.{:02}", whole / 1000, whole % 1000, fen % 100)
            }
            _ => fen_text(fen),
        };
        let date = |d: chrono::NaiveDate, rng: &mut Rng| {
            use chrono::Datelike;
            match rng.below(8) {
                0 => format!("{}/{}/{}", d.year(), d.month(), d.day()),
                1 => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
                2 => format!("{d} 10:30:00"),
                _ => d.to_string(),
            }
        };
        let category_text = match rng.below(10) {
            0..=4 => String::new(),
            5..=8 => category.code().to_string(),
            _ => category.name_zh().to_string(),
        };
        vec![
            format!("SYN-2025-{:09}", self.serial),
            uscc(ENTERPRISE, enterprise),
            uscc(PROVIDER, provider),
            product_id(provider, slot),
            category_text,
            money(price_fen, rng),
            money(voucher_fen, rng),
            money(contract_fen, rng),
            money(deposit_fen, rng),
            money(balance_fen, rng),
            date(day_of_2025(signed), rng),
            date(day_of_2025(completed), rng),
        ]
    }

    /// Makes a valid row carry `code`.
    fn inject(
        &mut self,
        code: Code,
        mut row: Vec<String>,
        previous: Option<&Vec<String>>,
        first_day: u64,
        last_day: u64,
    ) -> Vec<String> {
        let pool = |rng: &mut Rng, kind: u8| uscc(kind, rng.below(POOL));
        let rng = &mut self.rng;
        let amount = |row: &Vec<String>, i: usize| crate::rules::money::parse_money(row[i].trim()).unwrap_or_default();
        match code {
            Code::E_ROW_MALFORMED => {
                row.pop();
            }
            Code::E_FIELD_MISSING => row[3] = String::new(),
            Code::E_DUPLICATE_ROW => {
                if let Some(previous) = previous {
                    row = previous.clone();
                }
            }
            Code::E_DUPLICATE_CONFLICT => {
                if let Some(previous) = previous.filter(|p| p.len() == 12) {
                    row[0] = previous[0].clone();
                }
            }
            Code::E_BAD_USCC => {
                let last = row[1].pop().unwrap_or('0');
                row[1].push(if last == '0' { '1' } else { '0' });
            }
            Code::E_FIELD_INVALID => row[5] = ["12,34.00", "abc", "1.234", "0"][rng.below(4) as usize].to_string(),
            Code::E_ALREADY_SETTLED | Code::E_SETTLED_CHANGED if !self.earlier.is_empty() => {
                let index = rng.below(self.earlier.len() as u64) as usize;
                row = self.earlier[index].clone();
                if code == Code::E_SETTLED_CHANGED {
                    row[9] = format!("{}", amount(&row, 9) + rust_decimal::Decimal::ONE);
                }
            }
            Code::E_OTHER_SERVICE_YEAR => row[10] = "2024-12-20".into(),
            Code::E_NOT_COMPLETED => row[11] = String::new(),
            Code::E_DATE_ORDER => {
                row[10] = day_of_2025(last_day).to_string();
                row[11] = day_of_2025(first_day).to_string();
            }
            Code::E_AFTER_CUTOFF => row[11] = day_of_2025(last_day + 1 + rng.below(20)).to_string(),
            Code::E_UNKNOWN_ENTERPRISE => row[1] = uscc(NOWHERE, 100 + rng.below(1000)),
            Code::E_NOT_MANUFACTURING => row[1] = pool(rng, NOT_MANUFACTURING),
            Code::E_NOT_ABOVE_SCALE => row[1] = pool(rng, NOT_ABOVE_SCALE),
            Code::E_LARGE_ENTERPRISE => row[1] = pool(rng, LARGE),
            Code::E_UNKNOWN_PROVIDER => row[2] = uscc(NOWHERE, 5000 + rng.below(1000)),
            Code::E_SELF_DEALING => {
                let own = pool(rng, ENTERPRISE);
                row[1] = own.clone();
                row[2] = own;
            }
            Code::E_PROVIDER_REVOKED => row[2] = pool(rng, REVOKED),
            Code::E_PROVIDER_SUSPENDED => row[2] = pool(rng, SUSPENDED),
            Code::E_PROVIDER_NOT_SIGNED => row[2] = pool(rng, LATE_SIGNED),
            Code::E_UNKNOWN_PRODUCT => row[3] = "SP-UNLISTED".into(),
            Code::E_PRODUCT_PROVIDER_MISMATCH => {
                let provider: u64 = row[3][2..8].parse().unwrap_or(0);
                row[3] = product_id((provider + 1) % self.sizes.providers, 0);
            }
            Code::E_CATEGORY_MISMATCH => {
                let provider: u64 = row[3][2..8].parse().unwrap_or(0);
                let slot: u64 = row[3][8..].parse().unwrap_or(0);
                let actual = slot_category(provider, slot);
                let other = Category::ALL.into_iter().find(|c| *c != actual).expect("seven categories");
                row[4] = other.code().to_string();
            }
            Code::E_NO_CLAIM => {
                row[7] = fen_text_of(amount(&row, 5));
                row[6] = "0".into();
            }
            Code::E_AMOUNT_MISMATCH => row[7] = fen_text_of(amount(&row, 7) + rust_decimal::Decimal::ONE),
            Code::E_DEPOSIT_SHORT => {
                row[9] = fen_text_of(amount(&row, 7));
                row[8] = "0".into();
            }
            Code::E_BALANCE_UNPAID => {
                let fifth = amount(&row, 7) * rust_decimal::Decimal::new(2, 1);
                row[8] = fen_text_of(fifth.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero));
                row[9] = "0".into();
            }
            _ => {}
        }
        row
    }
}

fn fen_text_of(amount: rust_decimal::Decimal) -> String {
    crate::rules::money::format_money(amount)
}
