//! One integration test binary; each module is one area.

mod workdir;

mod audit;
mod bad_input;
mod batches;
mod conformance;
mod finance;
mod formats;
mod operations;
mod properties;
mod scenarios;
mod synth;
