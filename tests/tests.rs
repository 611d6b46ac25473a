//! One integration test binary; each module is one area.

mod workdir;

mod architecture;
mod audit;
mod bad_input;
mod batches;
mod conformance;
mod corrections;
mod datasets;
mod documents;
mod finance;
mod formats;
mod frictions;
mod hardening;
mod ledger_states;
mod model;
mod operations;
mod owed;
mod properties;
mod risk;
mod safety;
mod scenarios;
mod signoff;
mod structure;
mod synth;
mod year;
