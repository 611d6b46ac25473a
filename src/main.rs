//! Thin entry point: parse, set up tracing, dispatch, turn errors into exit codes.

use std::process::ExitCode;

use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use voucher_settle::cmd::explain::ExplainArgs;
use voucher_settle::cmd::run::{RunArgs, RunReport};
use voucher_settle::cmd::signoff::SignoffArgs;
use voucher_settle::cmd::statements::StatementsArgs;
use voucher_settle::cmd::synth::SynthArgs;
use voucher_settle::cmd::verify::VerifyArgs;
use voucher_settle::cmd::year::YearArgs;
use voucher_settle::cmd::{explain, run, signoff, statements, synth, verify, year};
use voucher_settle::report::Summary;

/// Many small strings per row: mimalloc keeps allocation cheap and returns
/// freed memory without zeroing fresh pages for every large buffer.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 服务券兑付结算 — settle Guangxi manufacturing service vouchers.
#[derive(Debug, Parser)]
#[command(name = "voucher-settle", version)]
struct Cli {
    /// 更多日志（-v 信息，-vv 调试） More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// 日志格式：text 供人阅读，json 供日志系统 Log format on stderr: `text` for people, `json` (one object per event) for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(RunArgs),
    Signoff(SignoffArgs),
    Verify(VerifyArgs),
    Explain(ExplainArgs),
    Year(YearArgs),
    Statements(StatementsArgs),
    Synth(SynthArgs),
}

/// Where the one closing line of every `run` is logged; always enabled.
const SUMMARY_TARGET: &str = "voucher_settle::summary";

fn init_logging(cli: &Cli) {
    let level = match (cli.verbose, cli.log_format) {
        (0, LogFormat::Text) => "warn",
        (0 | 1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| format!("{level},{SUMMARY_TARGET}=info").into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(ansi).with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
}

fn main() -> ExitCode {
    voucher_settle::engine::memory::keep_freed_memory();
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(&cli);
    let result = match &cli.command {
        Command::Run(args) => run_batches(args),
        Command::Signoff(args) => signoff::run(args).map(|text| println!("{text}")),
        Command::Verify(args) => verify::run(args).map(|line| println!("{line}")),
        Command::Explain(args) => explain::run(args).map(|text| print!("{text}")),
        Command::Year(args) => year::run(args).map(|line| println!("{line}")),
        Command::Statements(args) => statements::run(args).map(|line| println!("{line}")),
        Command::Synth(args) => synth::run(args).map(|line| println!("{line}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("voucher-settle: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

/// The command line's help in Chinese and English, like every other
/// message: headings, the help and version flags, every command.
fn bilingual(command: clap::Command) -> clap::Command {
    const OPTIONS: &str = "选项 Options";
    command
        .help_template("{about-with-newline}\n用法 Usage: {usage}\n\n{all-args}{after-help}")
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .subcommand_help_heading("命令 Commands")
        .mut_args(
            |arg| if arg.is_positional() { arg.help_heading("参数 Arguments") } else { arg.help_heading(OPTIONS) },
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("显示帮助 Print help")
                .help_heading(OPTIONS),
        )
        .mut_subcommands(bilingual)
}

/// What a usage error is, in Chinese, before clap's own English words.
fn usage_error_zh(kind: clap::error::ErrorKind) -> &'static str {
    use clap::error::ErrorKind::*;
    match kind {
        UnknownArgument => "未知参数",
        InvalidSubcommand => "未知命令",
        MissingRequiredArgument => "缺少必填参数",
        MissingSubcommand | DisplayHelpOnMissingArgumentOrSubcommand => "缺少命令",
        InvalidValue | ValueValidation => "参数值无效",
        ArgumentConflict => "参数互相冲突",
        TooManyValues | TooFewValues | WrongNumberOfValues => "参数值个数不对",
        NoEquals => "参数须写作 --名称=值",
        _ => "命令行有误",
    }
}

/// Parses the command line; help and version are printed (exit 0), a usage
/// error is named in Chinese then in clap's English (exit 2).
fn parse_args() -> Result<Cli, ExitCode> {
    let command = bilingual(Cli::command()).disable_version_flag(true).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help("显示版本 Print version")
            .help_heading("选项 Options"),
    );
    let parsed = command.try_get_matches().and_then(|matches| Cli::from_arg_matches(&matches));
    parsed.map_err(|error| {
        use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
        if matches!(error.kind(), DisplayHelp | DisplayVersion) {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        // The argument concerned, named in the Chinese line too.
        let named = match error.get(clap::error::ContextKind::InvalidArg) {
            Some(clap::error::ContextValue::String(arg)) => format!(" {arg}"),
            Some(clap::error::ContextValue::Strings(args)) => format!(" {}", args.join(" ")),
            _ => String::new(),
        };
        eprintln!("voucher-settle: 命令行错误：{}{named}（用法见 --help） (usage error)", usage_error_zh(error.kind()));
        let _ = error.print();
        ExitCode::from(2)
    })
}

/// Runs the batch asked for, or with `--batch auto` every batch not yet
/// committed in order, stopping at the first that fails.
fn run_batches(args: &RunArgs) -> voucher_settle::Result<()> {
    let batches = match run::batches_to_run(args) {
        Ok(batches) => batches,
        Err(err) => {
            log_run_summary(&args.batch, &Err(err.clone()));
            return Err(err);
        }
    };
    for batch in batches {
        let one = RunArgs { batch, ..args.clone() };
        let result = run::run(&one);
        log_run_summary(&one.batch, &result);
        let report = result?;
        print!("{}", describe_run(&report));
        // `--batch auto` stops at the first batch awaiting sign-off.
        if matches!(report, RunReport::Proposed { .. }) {
            break;
        }
        // The process ends soon: the settled batch is left to the system to
        // take back whole. Freeing its rows one by one would keep one core
        // busy for 0.5 s at 10M contracts.
        std::mem::forget(report);
    }
    Ok(())
}

/// The one line every run ends with, for operations to watch.
fn log_run_summary(batch_asked: &str, result: &voucher_settle::Result<RunReport>) {
    // `head`: the manifest SHA-256 the store ends at after a commit (what
    // the signed payout list carries), or the committed batch's own.
    let (outcome, summary, batch, head) = match result {
        Ok(RunReport::Settled { summary, committed: Some(_), manifest_sha256, .. }) => {
            ("committed", Some(summary), summary.batch_id.clone(), manifest_sha256.as_str())
        }
        Ok(RunReport::Settled { summary, committed: None, .. }) => {
            ("dry_run", Some(summary), summary.batch_id.clone(), "")
        }
        Ok(RunReport::Proposed { summary, .. }) => ("proposed", Some(summary), summary.batch_id.clone(), ""),
        Ok(RunReport::AlreadyCommitted { summary, batch_id, manifest_sha256, .. }) => {
            ("already_committed", summary.as_ref(), batch_id.clone(), manifest_sha256.as_str())
        }
        Err(_) => ("failed", None, batch_asked.to_string(), ""),
    };
    let count = |f: fn(&Summary) -> u64| summary.map_or(0, f);
    let exit_status = result.as_ref().map_or_else(|e| e.exit_code(), |_| 0);
    if let Err(error) = result {
        // A failed run's closing line is an error carrying why, for a
        // monitor that reads only this line.
        tracing::error!(target: SUMMARY_TARGET, batch = %batch, outcome, exit_status, error = %error, "run finished");
        return;
    }
    tracing::info!(
        target: SUMMARY_TARGET,
        batch = %batch,
        outcome,
        rows_in = count(|s| s.contract_rows_in),
        settled = count(|s| s.settled),
        reduced = count(|s| s.settled_reduced),
        rejected = count(|s| s.rejected),
        approved = %summary.map_or("0.00", |s| s.approved_total.as_str()),
        manifest_sha256 = head,
        exit_status,
        "run finished"
    );
}

fn describe_run(report: &RunReport) -> String {
    match report {
        RunReport::Settled { printed, output, committed, manifest_sha256, publish_warning, repaired, .. } => {
            let commit = match committed {
                Some(dir) => format!("已提交账本 committed: {}\n清单 manifest {manifest_sha256}\n", dir.display()),
                None => "试算，未提交账本 dry run: nothing committed\n".to_string(),
            };
            let warning = publish_warning.as_ref().map_or_else(String::new, |w| format!("{w}\n"));
            let repaired = repaired.as_ref().map_or_else(String::new, |note| format!("{note}\n"));
            format!("{repaired}{printed}输出 output: {}\n{commit}{warning}", output.display())
        }
        RunReport::Proposed { printed, output, .. } => {
            format!(
                "{printed}输出 output: {}\n待审批，未提交账本 awaiting sign-off: nothing committed\n",
                output.display()
            )
        }
        RunReport::AlreadyCommitted { batch_id, dir, output, restored, .. } if restored.is_empty() => format!(
            "批次 {batch_id} 已以相同输入提交，无需重算；{} 中的已提交文件完好，未作更改 \
             (batch {batch_id} already committed with identical inputs; nothing to do; every committed file in {} \
             is intact, nothing changed — ledger: {})\n",
            output.display(),
            output.display(),
            dir.display()
        ),
        RunReport::AlreadyCommitted { batch_id, dir, output, restored, .. } => format!(
            "批次 {batch_id} 已以相同输入提交，无需重算；已从账本恢复 {} 到 {} \
             (batch {batch_id} already committed with identical inputs; nothing to do; restored from {} into {}: {})\n",
            restored.join("、"),
            output.display(),
            dir.display(),
            output.display(),
            restored.join(", ")
        ),
    }
}
