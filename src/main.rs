//! Thin entry point: parse, set up tracing, dispatch, turn errors into exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use voucher_settle::cmd::run::{RunArgs, RunReport};

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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .init();
    let result = match &cli.command {
        Command::Run(args) => voucher_settle::cmd::run::run(args).map(|report| match report {
            RunReport::Settled { printed, output, committed } => {
                print!("{printed}");
                println!("输出 output: {}", output.display());
                match committed {
                    Some(dir) => println!("已提交账本 committed: {}", dir.display()),
                    None => println!("试算，未提交账本 dry run: nothing committed"),
                }
            }
            RunReport::AlreadyCommitted { batch_id, dir } => {
                println!(
                    "批次 {batch_id} 已以相同输入提交，无需重算 (batch {batch_id} already committed with identical inputs; nothing to do): {}",
                    dir.display()
                );
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("voucher-settle: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
