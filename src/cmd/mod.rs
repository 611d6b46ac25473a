//! One module per subcommand, each with its clap `Args` and a `run`.

pub mod explain;
pub mod run;
pub mod signoff;
pub mod statements;
pub mod synth;
pub mod verify;
pub mod year;
