//! The settlement rules as code: pure functions and plain types, one file
//! per part of the rules. Nothing here runs in parallel, touches a file or
//! knows polars; `engine` runs these rules fast, `rules` says what they are.
//! Section numbers ("rules 4.2") are those of `docs/RULES.md`, which says
//! the same in prose.
//!
//! | file | rules |
//! |---|---|
//! | `money.rs`, `dates.rs`, `uscc.rs` | field formats of the inputs |
//! | `category.rs` | service categories |
//! | `codes.rs` | outcome and exception codes, their severities and messages |
//! | `policy.rs` | the per-service-year policy file |
//! | `registry.rs` | registry rows: what makes one usable |
//! | `ids.rs` | what a contract id may hold |
//! | `contract.rs` | the row checks of one contract, in their order |
//! | `tiers.rs` | annual quota tiers |
//! | `duplicates.rs` | rows sharing a key that should be unique |
//! | `allocation.rs` | first come, first served under the caps; cap scopes |
//! | `bounds.rs` | the four bounds that can cut a claim, their codes and names |
//! | `corrections.rs` | reversal, clawback and hold of settled contracts |
//! | `owed.rs` | amounts owed back: the balance, refunds, offsets |
//! | `outputs.rs` | the rows a batch writes |
//! | `control.rs` | the control totals every batch must meet |
//! | `batches.rs` | batch ids and the order batches are settled in |
//! | `reference.rs` | allocation in its plainest form, for the tests |

pub mod allocation;
pub mod batches;
pub mod bounds;
pub mod category;
pub mod codes;
pub mod contract;
pub mod control;
pub mod corrections;
pub mod dates;
pub mod duplicates;
pub mod ids;
pub mod money;
pub mod outputs;
pub mod owed;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod risk;
pub mod tiers;
pub mod uscc;
