//! One module per subcommand, each with its clap `Args` and a `run`.

pub mod explain;
pub mod run;
pub mod statements;
pub mod synth;
pub mod verify;
pub mod year;

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A stored CSV file's rows as column → value, each text cell without the
/// one leading `'` that guards it.
pub(crate) fn csv_rows(bytes: &[u8], what: &str) -> Result<Vec<BTreeMap<String, String>>> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(text);
    let headers = reader.headers().map_err(|e| Error::Internal(format!("{what}: {e}")))?.clone();
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| Error::Internal(format!("{what}: {e}")))?;
            let unguard = |v: &str| v.strip_prefix('\'').unwrap_or(v).to_string();
            Ok(headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), unguard(v))).collect())
        })
        .collect()
}
