//! Thin entry point: parse, set up tracing, dispatch, turn errors into exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use voucher_settle::cmd::explain::ExplainArgs;
use voucher_settle::cmd::run::{RunArgs, RunReport};
use voucher_settle::cmd::verify::VerifyArgs;
use voucher_settle::cmd::{explain, run, verify};

/// 服务券兑付结算 — settle Guangxi manufacturing service vouchers.
#[derive(Debug, Parser)]
#[command(name = "voucher-settle", version)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(RunArgs),
    Verify(VerifyArgs),
    Explain(ExplainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .init();
    let result = match &cli.command {
        Command::Run(args) => run::run(args).map(|report| print!("{}", describe_run(&report))),
        Command::Verify(args) => verify::run(args).map(|line| println!("{line}")),
        Command::Explain(args) => explain::run(args).map(|text| print!("{text}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("voucher-settle: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

fn describe_run(report: &RunReport) -> String {
    match report {
        RunReport::Settled { printed, output, committed, manifest_sha256 } => {
            let commit = match committed {
                Some(dir) => format!("已提交账本 committed: {}\n清单 manifest {manifest_sha256}\n", dir.display()),
                None => "试算，未提交账本 dry run: nothing committed\n".to_string(),
            };
            format!("{printed}输出 output: {}\n{commit}", output.display())
        }
        RunReport::AlreadyCommitted { batch_id, dir, output } => format!(
            "批次 {batch_id} 已以相同输入提交，无需重算；已将账本中的结果复制到 {} \
             (batch {batch_id} already committed with identical inputs; nothing to do; outputs restored from {})\n",
            output.display(),
            dir.display()
        ),
    }
}
