//! The only module that imports polars: typed rows <-> Parquet. Money is
//! Decimal(18, 2) built from exact fen (i128 mantissas), never from floats;
//! dates are Date. Polars errors become our error type here.

use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;

use crate::rules::codes::ExceptionRow;
use crate::rules::outputs::{PayoutLayout, PayoutRow, ReversalRow, SettlementRow, UsageRow};
use crate::rules::owed::AppliedRefund;
use crate::schema::output::{self, Cell, Kind, name};
use crate::schema::table::{StoredTable, Values};
use crate::{Error, Result};

const MONEY_PRECISION: usize = 18;
const MONEY_SCALE: u32 = 2;

fn internal(what: &str) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e}"))
}

fn text<S: AsRef<str>>(name: &str, values: impl Iterator<Item = S>) -> Column {
    StringChunked::from_iter_values(name.into(), values).into_series().into_column()
}

fn money(name: &str, values: impl Iterator<Item = Decimal>) -> Result<Column> {
    money_column(name, values.map(mantissa_fen).collect())
}

/// An amount in fen: its mantissa at two decimals (exact, no rounding:
/// every amount here has at most two).
fn mantissa_fen(amount: Decimal) -> i128 {
    let mut exact = amount;
    exact.rescale(MONEY_SCALE);
    exact.mantissa()
}

fn money_column(name: &str, fen: Vec<i128>) -> Result<Column> {
    let series = Int128Chunked::from_vec(name.into(), fen)
        .into_decimal(MONEY_PRECISION, MONEY_SCALE as usize)
        .map_err(internal("decimal column"))?
        .into_series();
    Ok(series.into_column())
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

fn days(date: NaiveDate) -> i32 {
    (date - epoch()).num_days() as i32
}

fn date_column(name: &str, days: Vec<i32>) -> Column {
    Int32Chunked::from_vec(name.into(), days).into_date().into_series().into_column()
}

/// Reads a Parquet file. Polars may panic on a damaged file instead of
/// returning an error; such a panic becomes an error here, so no input file
/// can crash the run.
fn read_parquet(bytes: &[u8]) -> std::result::Result<DataFrame, String> {
    let mut reader = ParquetReader::new(std::io::Cursor::new(bytes));
    declared_within_budget(&mut reader, bytes.len())?;
    let read = || reader.finish();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(frame)) => Ok(frame),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("damaged file (the Parquet reader gave up)".to_string()),
    }
}

/// A Parquet file declares its rows in its footer, and a column of nulls
/// or of one repeated value encodes millions of them in a few bytes: the
/// cells it declares (rows, by the file's count or its row groups', times
/// columns) must fit the budget every input has — 64 times the file's size
/// plus 256 MiB of text, at 32 bytes a cell — before any is read.
fn declared_within_budget(
    reader: &mut ParquetReader<std::io::Cursor<&[u8]>>,
    file_bytes: usize,
) -> std::result::Result<(), String> {
    let metadata = reader.get_metadata().map_err(|e| e.to_string())?;
    let grouped: usize = metadata.row_groups.iter().fold(0usize, |sum, group| sum.saturating_add(group.num_rows()));
    let rows = metadata.num_rows.max(grouped) as u64;
    let columns = metadata.schema_descr.columns().len().max(1) as u64;
    let budget = (file_bytes as u64).saturating_mul(64).saturating_add(256 << 20) / 32;
    match rows.saturating_mul(columns) {
        cells if cells > budget => Err(format!(
            "声明的 {rows} 行 × {columns} 列超过上限 (the file declares {rows} rows of {columns} columns, more than a \
             file of this size can hold in a real export; refused before reading it)"
        )),
        _ => Ok(()),
    }
}

/// Rows per Parquet row group (polars' default). Frames are built one row
/// group at a time, so a large table is never copied into columns whole.
const ROW_GROUP: usize = 512 * 512;

/// Tables of more row groups than this build the frame of each group
/// while the group before it is encoded. A large batch renders its
/// settlements alone after the smaller tables are done, and then a core
/// would idle while one thread builds the next frame; a small one would
/// only hold two groups at once for nothing (both cores are busy).
const GROUPS_BUILT_AHEAD_ABOVE: usize = 8;

/// Key–value metadata written into a Parquet file's footer (the batch it
/// belongs to, whether it is committed); none in ledger formats before 5.
pub type Tags = Vec<(String, String)>;

/// How a table is cut into row groups and whether the next group's frame
/// is built while the current group is encoded. The output bytes depend
/// only on the cut.
#[derive(Debug, Clone, Copy)]
struct Grouping {
    rows_per_group: usize,
    ahead: bool,
}

impl Grouping {
    fn of(rows: usize) -> Grouping {
        Grouping { rows_per_group: ROW_GROUP, ahead: rows.div_ceil(ROW_GROUP) > GROUPS_BUILT_AHEAD_ABOVE }
    }
}

/// Writes `rows` rows as Parquet, building the frame of each row group
/// (its number and range of row numbers) with `frame`; `alongside` is
/// given each group with its frame and runs on another thread while the
/// group is encoded (the CSV twin of the same rows, if any). Built ahead,
/// `frame` is called for the next group while `alongside` still reads the
/// current one.
fn write_parquet<W: std::io::Write + Send>(
    what: &str,
    rows: usize,
    grouping: Grouping,
    tags: &Tags,
    out: W,
    mut frame: impl FnMut(usize, std::ops::Range<usize>) -> Result<DataFrame> + Send,
    mut alongside: impl FnMut(usize, std::ops::Range<usize>, &DataFrame) -> Result<()> + Send,
) -> Result<()> {
    let size = grouping.rows_per_group;
    let groups: Vec<std::ops::Range<usize>> =
        (0..rows.div_ceil(size)).map(|g| g * size..rows.min((g + 1) * size)).collect();
    let first = frame(0, 0..rows.min(size))?;
    let metadata = (!tags.is_empty()).then(|| KeyValueMetadata::from_static(tags.clone()));
    let mut writer = ParquetWriter::new(out)
        .with_compression(ParquetCompression::Snappy)
        .with_key_value_metadata(metadata)
        .batched(first.schema())
        .map_err(internal(what))?;
    let mut current = Some(first);
    for (k, group) in groups.iter().enumerate() {
        let this = current.take().ok_or_else(|| Error::Internal(format!("{what}: no frame for group {k}")))?;
        let next_group = groups.get(k + 1).map(|next| (k + 1, next.clone()));
        let mut write = || -> Result<()> {
            let (written, beside) = rayon::join(|| writer.write_batch(&this), || alongside(k, group.clone(), &this));
            written.map_err(internal(what))?;
            beside
        };
        let build_next = || next_group.map(|(k, next)| frame(k, next)).transpose();
        current = if grouping.ahead {
            let (written, next) = rayon::join(write, build_next);
            written?;
            next?
        } else {
            write()?;
            // Freed before the next group's frame is built: one at a time.
            drop(this);
            build_next()?
        };
    }
    writer.finish().map_err(internal(what))?;
    Ok(())
}

/// settlements.parquet, columns as rules 6 orders them. The rows of each
/// row group are built once (in parallel) and also handed to `also`, which
/// writes them into settlements.csv when both files are rendered together.
/// `fill` builds the rows of a range of row numbers into a buffer
/// (replacing what it held).
pub fn settlements_parquet(
    batch_id: &str,
    tags: &Tags,
    nulls: bool,
    rows: usize,
    fill: impl Fn(std::ops::Range<usize>, &mut Vec<SettlementRow>) + Send + Sync,
    out: impl std::io::Write + Send,
    mut also: impl FnMut(&[SettlementRow]) -> Result<()> + Send,
) -> Result<()> {
    write_parquet_with_twin(
        "settlements.parquet",
        rows,
        Grouping::of(rows),
        tags,
        out,
        |group, group_rows: &mut Vec<SettlementRow>| {
            fill(group, group_rows);
            settlements_frame(batch_id, group_rows, nulls)
        },
        |_, group_rows| also(group_rows),
    )
}

/// [`write_parquet`] for a table with a CSV twin: `fill` fills a buffer
/// anew for each row group (its rows) and builds the group's frame from
/// it; `twin` reads the same buffer while the group is encoded. Built
/// ahead, groups take turns between two buffers, so the next group can be
/// filled while the twin still reads the current one; otherwise one buffer
/// serves every group (a second would hold another group's rows for
/// nothing: 108 MB at 262,144 settlement rows).
fn write_parquet_with_twin<B: Default + Send>(
    what: &str,
    rows: usize,
    grouping: Grouping,
    tags: &Tags,
    out: impl std::io::Write + Send,
    mut fill: impl FnMut(std::ops::Range<usize>, &mut B) -> Result<DataFrame> + Send,
    mut twin: impl FnMut(std::ops::Range<usize>, &B) -> Result<()> + Send,
) -> Result<()> {
    let buffers = [std::sync::Mutex::new(B::default()), std::sync::Mutex::new(B::default())];
    let turns = if grouping.ahead { 2 } else { 1 };
    let lock = |k: usize| buffers[k % turns].lock().map_err(|_| Error::Internal(format!("{what}: row group buffer")));
    write_parquet(
        what,
        rows,
        grouping,
        tags,
        out,
        |k, group| fill(group, &mut *lock(k)?),
        |k, group, _| twin(group, &*lock(k)?),
    )
}

/// Column builders filled in one pass over the rows: a row is 400 bytes,
/// so a pass per column would stream the whole row group from memory 27
/// times. The columns, their order and kinds come from the schema.
fn settlements_frame(batch_id: &str, rows: &[SettlementRow], nulls: bool) -> Result<DataFrame> {
    schema_frame("settlements frame", &output::SETTLEMENTS, rows, nulls, |row, cells| {
        row.for_each_cell(batch_id, |cell| cells.push(cell))
    })
}

/// A frame of the schema's `columns`, filled in one pass over `rows`:
/// `row_cells` hands each row's cells, in the columns' order, to the filler.
/// With `nulls` (ledger format 4 on) an absent value — empty text, an
/// empty cell — is null; before, empty text stayed empty text.
fn schema_frame<R>(
    what: &str,
    columns: &[output::Column],
    rows: &[R],
    nulls: bool,
    row_cells: impl FnMut(&R, &mut Filler),
) -> Result<DataFrame> {
    let columns: Vec<(&str, Kind)> = columns.iter().map(|c| (c.name, c.kind)).collect();
    frame_of(what, &columns, rows, nulls, row_cells)
}

/// [`schema_frame`] for columns given by name and kind.
fn frame_of<R>(
    what: &str,
    columns: &[(&str, Kind)],
    rows: &[R],
    nulls: bool,
    mut row_cells: impl FnMut(&R, &mut Filler),
) -> Result<DataFrame> {
    let n = rows.len();
    let builders = columns.iter().map(|(name, kind)| Builder::new(name, *kind, n, nulls)).collect();
    let mut filler = Filler { builders, at: 0 };
    for row in rows {
        filler.at = 0;
        row_cells(row, &mut filler);
    }
    let built = filler.builders.into_iter().zip(columns).map(|(b, (name, _))| b.finish(name)).collect::<Result<_>>()?;
    DataFrame::new(n, built).map_err(internal(what))
}

/// The column builders of one frame and the column the next cell goes to.
struct Filler {
    builders: Vec<Builder>,
    at: usize,
}

impl Filler {
    fn push(&mut self, cell: Cell) {
        self.builders[self.at].push(cell);
        self.at += 1;
    }
}

/// One column being filled, as its kind is stored in Parquet: text as
/// UTF-8, money as Decimal(18, 2), dates as dates, counts as UInt64.
/// Money and count columns note the rows without a value (an empty cell),
/// few or none, apart from the values.
enum Builder {
    Text { builder: StringChunkedBuilder, empty_is_null: bool },
    Money(Vec<i128>, Vec<bool>),
    Date(Vec<i32>),
    Count(Vec<u64>, Vec<bool>),
}

impl Builder {
    fn new(name: &str, kind: Kind, capacity: usize, nulls: bool) -> Builder {
        match kind {
            Kind::Text | Kind::InputText => {
                Builder::Text { builder: StringChunkedBuilder::new(name.into(), capacity), empty_is_null: nulls }
            }
            Kind::Money => Builder::Money(Vec::with_capacity(capacity), Vec::new()),
            Kind::Date => Builder::Date(Vec::with_capacity(capacity)),
            Kind::Count => Builder::Count(Vec::with_capacity(capacity), Vec::new()),
        }
    }

    fn push(&mut self, cell: Cell) {
        match (self, cell) {
            (Builder::Text { builder, empty_is_null: true }, Cell::Text("") | Cell::InputText("")) => {
                builder.append_null()
            }
            (Builder::Text { builder, .. }, Cell::Text(text) | Cell::InputText(text)) => builder.append_value(text),
            (Builder::Money(fen, _), Cell::Money(amount)) => fen.push(mantissa_fen(amount)),
            (Builder::Date(days_since), Cell::Date(date)) => days_since.push(days(date)),
            (Builder::Count(values, _), Cell::Count(value)) => values.push(value),
            (Builder::Money(fen, valid), Cell::Empty) => {
                mark_null(valid, fen.len());
                fen.push(0);
            }
            (Builder::Count(values, valid), Cell::Empty) => {
                mark_null(valid, values.len());
                values.push(0);
            }
            (_, cell) => {
                unreachable!("a cell of kind {:?} in another column: the row and the schema disagree", cell.kind())
            }
        }
    }

    fn finish(self, name: &str) -> Result<Column> {
        Ok(match self {
            Builder::Text { builder, .. } => builder.finish().into_series().into_column(),
            Builder::Money(fen, valid) => {
                let column = money_column(name, fen)?;
                with_nulls(column, valid)?
            }
            Builder::Date(days_since) => date_column(name, days_since),
            Builder::Count(values, valid) => with_nulls(Column::new(name.into(), values), valid)?,
        })
    }
}

/// Notes that row `at` has no value: `valid` holds a flag per row once
/// the first null is seen (and nothing while there is none).
fn mark_null(valid: &mut Vec<bool>, at: usize) {
    valid.resize(at, true);
    valid.push(false);
}

/// The column with nulls where `valid` says false (rows past its end are valid).
fn with_nulls(column: Column, mut valid: Vec<bool>) -> Result<Column> {
    if valid.is_empty() {
        return Ok(column);
    }
    valid.resize(column.len(), true);
    let mask = BooleanChunked::from_slice("valid".into(), &valid);
    let nulls = Column::full_null(column.name().clone(), column.len(), column.dtype());
    column.zip_with(&mask, &nulls).map_err(internal("null values"))
}

/// exceptions.parquet, columns as rules 6 orders them. The messages of each
/// row group are built once, into the frame's message column, and handed
/// from there with the group's rows to `also`, which writes them into
/// exceptions.csv when both are rendered.
pub fn exceptions_parquet(
    batch_id: &str,
    tags: &Tags,
    nulls: bool,
    rows: &[ExceptionRow],
    out: impl std::io::Write + Send,
    mut also: impl FnMut(&[ExceptionRow], &[&str]) -> Result<()> + Send,
) -> Result<()> {
    write_parquet(
        "exceptions.parquet",
        rows.len(),
        Grouping::of(rows.len()),
        tags,
        out,
        |_, group| exceptions_frame(batch_id, &rows[group], nulls),
        |_, group, frame| {
            let messages = frame.column(name::MESSAGE).and_then(Column::str).map_err(internal("exceptions.parquet"))?;
            // Built just above from a message per row: no nulls.
            let texts: Vec<&str> = messages.iter().map(Option::unwrap_or_default).collect();
            also(&rows[group], &texts)
        },
    )
}

/// reversals.parquet (rules 9.4): a few rows at most, in one row group;
/// `also` gets the rows for the CSV twin.
pub fn reversals_parquet(
    batch_id: &str,
    tags: &Tags,
    nulls: bool,
    rows: &[ReversalRow],
    out: impl std::io::Write + Send,
    also: impl FnMut(&[ReversalRow]) -> Result<()> + Send,
) -> Result<()> {
    let table = ("reversals.parquet", &output::REVERSALS[..]);
    small_table_parquet(table, (batch_id, tags, nulls), rows, out, also, |r, b, cell| r.for_each_cell(b, cell))
}

/// refunds.parquet (rules 10.5): the refunds applied, in one row group;
/// `also` gets the rows for the CSV twin.
pub fn refunds_parquet(
    batch_id: &str,
    tags: &Tags,
    rows: &[AppliedRefund],
    out: impl std::io::Write + Send,
    also: impl FnMut(&[AppliedRefund]) -> Result<()> + Send,
) -> Result<()> {
    let table = ("refunds.parquet", &output::REFUNDS[..]);
    small_table_parquet(table, (batch_id, tags, true), rows, out, also, |r, b, cell| r.for_each_cell(b, cell))
}

/// risk.parquet (ledger format 5 on): the batch's risk flags.
pub fn risk_parquet(
    batch_id: &str,
    tags: &Tags,
    rows: &[crate::rules::risk::RiskRow],
    out: impl std::io::Write + Send,
    also: impl FnMut(&[crate::rules::risk::RiskRow]) -> Result<()> + Send,
) -> Result<()> {
    let table = ("risk.parquet", &output::RISK[..]);
    small_table_parquet(table, (batch_id, tags, true), rows, out, also, |r, b, cell| r.for_each_cell(b, cell))
}

/// sample.parquet (ledger format 5 on): the spot-check sample.
pub fn sample_parquet(
    batch_id: &str,
    tags: &Tags,
    rows: &[crate::rules::risk::SampleRow],
    out: impl std::io::Write + Send,
    also: impl FnMut(&[crate::rules::risk::SampleRow]) -> Result<()> + Send,
) -> Result<()> {
    let table = ("sample.parquet", &output::SAMPLE[..]);
    small_table_parquet(table, (batch_id, tags, true), rows, out, also, |r, b, cell| r.for_each_cell(b, cell))
}

/// How a row of a small table gives its cells, in its columns' order.
pub type RowCells<R> = fn(&R, &str, &mut dyn FnMut(Cell));

/// A small table of `schema::output` columns as Parquet, row group by row
/// group; `also` gets each group's rows for the CSV twin.
fn small_table_parquet<R: Sync>(
    (name, columns): (&str, &[output::Column]),
    (batch_id, tags, nulls): (&str, &Tags, bool),
    rows: &[R],
    out: impl std::io::Write + Send,
    mut also: impl FnMut(&[R]) -> Result<()> + Send,
    cells: RowCells<R>,
) -> Result<()> {
    let what = format!("{name} frame");
    write_parquet(
        name,
        rows.len(),
        Grouping::of(rows.len()),
        tags,
        out,
        |_, group| {
            schema_frame(&what, columns, &rows[group], nulls, |row, filler| {
                cells(row, batch_id, &mut |c| filler.push(c))
            })
        },
        |_, group, _| also(&rows[group]),
    )
}

/// payouts.parquet (ledger format 4 on): the payout list's rows, as
/// payouts.csv has them, money as Decimal(18, 2).
pub fn payouts_parquet(
    batch_id: &str,
    tags: &Tags,
    rows: &[PayoutRow],
    layout: PayoutLayout,
    out: impl std::io::Write + Send,
) -> Result<()> {
    write_parquet(
        "payouts.parquet",
        rows.len(),
        Grouping::of(rows.len()),
        tags,
        out,
        |_, group| {
            schema_frame("payouts frame", layout.columns(), &rows[group], true, |row, cells| {
                row.for_each_cell(batch_id, layout, |cell| cells.push(cell))
            })
        },
        |_, _, _| Ok(()),
    )
}

/// enterprise_usage.parquet (ledger format 4 on): quota use per enterprise
/// as enterprise_usage.csv has it, each row with its enterprise's id and
/// name; one no longer in the registry has a null tier, quota and remainder.
pub fn usage_parquet(
    batch_id: &str,
    tags: &Tags,
    rows: &[(&UsageRow, (&str, &str))],
    out: impl std::io::Write + Send,
) -> Result<()> {
    write_parquet(
        "enterprise_usage.parquet",
        rows.len(),
        Grouping::of(rows.len()),
        tags,
        out,
        |_, group| {
            schema_frame("usage frame", &output::USAGE, &rows[group], true, |(row, enterprise), cells| {
                row.for_each_cell(batch_id, *enterprise, true, |cell| cells.push(cell))
            })
        },
        |_, _, _| Ok(()),
    )
}

/// The columns, their order and kinds come from the schema; each row's
/// message is built once, straight into the frame's message column.
fn exceptions_frame(batch_id: &str, rows: &[ExceptionRow], nulls: bool) -> Result<DataFrame> {
    let mut message = String::new();
    schema_frame("exceptions frame", &output::EXCEPTIONS, rows, nulls, |row, cells| {
        message.clear();
        row.push_message(&mut message);
        row.for_each_cell(batch_id, &message, |cell| cells.push(cell));
    })
}

/// A table of any columns (name and kind) as Parquet, money as
/// Decimal(18, 2), an empty cell as null: the year's tables.
pub fn cells_parquet(columns: &[(&str, Kind)], rows: &[Vec<Cell>]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    write_parquet(
        "table",
        rows.len(),
        Grouping::of(rows.len()),
        &Tags::new(),
        &mut bytes,
        |_, group| {
            frame_of("table frame", columns, &rows[group], true, |row, cells| {
                row.iter().for_each(|cell| cells.push(*cell))
            })
        },
        |_, _, _| Ok(()),
    )?;
    Ok(bytes)
}

/// Reads a committed Parquet table back typed ([`StoredTable`]): money
/// (Decimal) as amounts, integers as counts, text as text, anything else
/// (dates) as the text a CSV file holds. `only` names the columns wanted;
/// empty, all of them.
pub fn read_stored(bytes: &[u8], only: &[&str]) -> Result<StoredTable> {
    typed(&stored_frame(bytes)?, only)
}

/// [`read_stored`], `rows` rows at a time: only one slice's values are
/// held at once besides the file's columns.
pub fn read_stored_slices(bytes: &[u8], rows: usize, mut each: impl FnMut(StoredTable)) -> Result<()> {
    let frame = stored_frame(bytes)?;
    for offset in (0..frame.height()).step_by(rows.max(1)) {
        each(typed(&frame.slice(offset as i64, rows), &[])?);
    }
    if frame.height() == 0 {
        each(typed(&frame, &[])?);
    }
    Ok(())
}

fn stored_frame(bytes: &[u8]) -> Result<DataFrame> {
    read_parquet(bytes).map_err(|e| Error::Internal(format!("parquet read: {e}")))
}

fn typed(frame: &DataFrame, only: &[&str]) -> Result<StoredTable> {
    let wanted = |c: &&Column| only.is_empty() || only.contains(&c.name().as_str());
    let columns = frame.columns().iter().filter(wanted).map(|c| Ok((c.name().to_string(), values(c)?)));
    StoredTable::new(columns.collect::<Result<_>>()?)
}

fn values(column: &Column) -> Result<Values> {
    let name = column.name().as_str();
    Ok(match column.dtype() {
        DataType::Decimal(_, _) => {
            let decimals = column.decimal().map_err(internal(name))?;
            let scale = decimals.scale() as u32;
            Values::Money(
                decimals.physical().iter().map(|v| v.map(|v| Decimal::from_i128_with_scale(v, scale))).collect(),
            )
        }
        dtype if dtype.is_integer() => {
            let counts = column.cast(&DataType::UInt64).map_err(internal(name))?;
            Values::Count(counts.u64().map_err(internal(name))?.iter().collect())
        }
        _ => {
            let text = column.cast(&DataType::String).map_err(internal(name))?;
            Values::Text(text.str().map_err(internal(name))?.iter().map(|v| v.map(str::to_string)).collect())
        }
    })
}

/// The cells of a Parquet input as text, column by column: string columns
/// are read in place, typed ones (decimal, float, integer, date, datetime,
/// boolean) converted to the text a CSV export would hold.
pub struct InputColumns {
    pub header: Vec<String>,
    height: usize,
    columns: Vec<InputColumn>,
}

enum InputColumn {
    Text(StringChunked),
    Converted(Vec<String>),
}

impl InputColumns {
    pub fn height(&self) -> usize {
        self.height
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The text of one cell; a null is empty.
    pub fn cell(&self, row: usize, column: usize) -> &str {
        match &self.columns[column] {
            InputColumn::Text(values) => values.get(row).unwrap_or(""),
            InputColumn::Converted(values) => &values[row],
        }
    }
}

/// A Parquet input as text rows (all columns, file order), each typed cell
/// read as rules 2.6 says: a float is the shortest decimal text that
/// round-trips it, a decimal its exact text, a date or date-time its date
/// (the stored value's own date, no time-zone conversion), null is empty.
pub fn parquet_input_columns(path: &std::path::Path, bytes: &[u8]) -> Result<InputColumns> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::Input(format!("{}: 不是可读取的 Parquet 文件 (not a readable Parquet file): {e}", path.display()))
    };
    let frame = read_parquet(bytes).map_err(|e| unreadable(&e))?;
    let header: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let mut columns = Vec::with_capacity(header.len());
    for column in frame.columns() {
        let converted = match column.dtype() {
            DataType::String => column.str().map(|values| InputColumn::Text(values.rechunk().into_owned())),
            _ => column_text(column).map(InputColumn::Converted),
        };
        columns.push(converted.map_err(|e| unreadable(&format!("column {}: {e}", column.name())))?);
    }
    Ok(InputColumns { header, height: frame.height(), columns })
}

/// A Parquet date (days since 1970-01-01) as `YYYY-MM-DD`; a day the
/// calendar cannot name (beyond ±262,000 years) is text no date check
/// accepts, so its row is `E_FIELD_INVALID`, not a failed run.
fn date_text(days: i64) -> String {
    chrono::TimeDelta::try_days(days)
        .and_then(|delta| epoch().checked_add_signed(delta))
        .map_or_else(|| format!("day {days} after 1970-01-01"), |date| date.to_string())
}

/// A Parquet decimal (its mantissa and scale) as exact text, for any value
/// the type can hold: `1250, 2` -> `12.50`. A value beyond the range of
/// money is text like any other, and the row checks refuse it as money
/// (`E_FIELD_INVALID`) instead of the reader failing on it.
pub fn decimal_text(mantissa: i128, scale: usize) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let digits =
        if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (integer, fraction) = digits.split_at(digits.len() - scale);
    let sign = if mantissa < 0 { "-" } else { "" };
    if scale == 0 { format!("{sign}{integer}") } else { format!("{sign}{integer}.{fraction}") }
}

fn column_text(column: &Column) -> PolarsResult<Vec<String>> {
    let texts = |values: Vec<Option<String>>| values.into_iter().map(Option::unwrap_or_default).collect();
    Ok(match column.dtype() {
        DataType::String => texts(column.str()?.iter().map(|v| v.map(str::to_string)).collect()),
        DataType::Boolean => texts(column.bool()?.iter().map(|v| v.map(|b| b.to_string())).collect()),
        DataType::Float64 => texts(column.f64()?.iter().map(|v| v.map(|f| format!("{f}"))).collect()),
        DataType::Float32 => texts(column.f32()?.iter().map(|v| v.map(|f| format!("{f}"))).collect()),
        DataType::Decimal(_, scale) => {
            let scale = *scale;
            let values = column.decimal()?.physical().iter();
            texts(values.map(|v| v.map(|m| decimal_text(m, scale))).collect())
        }
        DataType::Date => {
            let days = column.date()?.physical().iter();
            texts(days.map(|d| d.map(|d| date_text(i64::from(d)))).collect())
        }
        DataType::Datetime(unit, _) => {
            let per_day: i64 = match unit {
                TimeUnit::Nanoseconds => 86_400_000_000_000,
                TimeUnit::Microseconds => 86_400_000_000,
                TimeUnit::Milliseconds => 86_400_000,
            };
            let stamps = column.datetime()?.physical().iter();
            texts(stamps.map(|t| t.map(|t| date_text(t.div_euclid(per_day)))).collect())
        }
        DataType::Null => vec![String::new(); column.len()],
        _ => {
            let cast = column.cast(&DataType::String)?;
            texts(cast.str()?.iter().map(|v| v.map(str::to_string)).collect())
        }
    })
}

/// A table of text columns as Parquet (synthetic inputs; rows of other
/// widths are not representable and must not be passed).
pub fn text_parquet(header: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    write_parquet(
        "text parquet",
        rows.len(),
        Grouping::of(rows.len()),
        &Tags::new(),
        &mut bytes,
        |_, group| {
            let rows = &rows[group];
            let columns: Vec<Column> = header
                .iter()
                .enumerate()
                .map(|(i, name)| text(name, rows.iter().map(|r| r.get(i).map_or("", String::as_str))))
                .collect();
            DataFrame::new(rows.len(), columns).map_err(internal("text frame"))
        },
        |_, _, _| Ok(()),
    )?;
    Ok(bytes)
}

/// Per provider: settled contracts and Σ approved, computed by polars from
/// the settlement rows — an aggregation independent of the allocation pass,
/// which the control totals compare with the payout list.
///
/// Grouped by the provider's registry index (its place in id order), so a
/// million rows are a column of integers, not of strings; `provider_id`
/// names the provider of an index.
pub fn approved_by_provider<'a>(
    providers: Vec<u32>,
    approved: Vec<Decimal>,
    provider_id: impl Fn(u32) -> Option<&'a str>,
) -> Result<Vec<(String, u64, Decimal)>> {
    let rows = providers.len();
    let frame = DataFrame::new(
        rows,
        vec![Column::new("provider".into(), providers), money(name::APPROVED_AMOUNT, approved.into_iter())?],
    )
    .map_err(internal("payout frame"))?;
    // The aggregation's own columns, never written.
    const COUNT: &str = "count_of_rows";
    const SUM: &str = "sum_approved";
    let grouped = frame
        .lazy()
        .group_by([col("provider")])
        .agg([len().alias(COUNT), col(name::APPROVED_AMOUNT).sum().alias(SUM)])
        .sort(["provider"], SortMultipleOptions::default())
        .collect()
        .map_err(internal("payout aggregation"))?;
    let providers =
        grouped.column("provider").map_err(internal("provider"))?.u32().map_err(internal("provider"))?.clone();
    let counts = grouped.column(COUNT).map_err(internal(COUNT))?.cast(&DataType::UInt64).map_err(internal(COUNT))?;
    let counts = counts.u64().map_err(internal(COUNT))?.clone();
    let sums = grouped.column(SUM).map_err(internal(SUM))?.decimal().map_err(internal(SUM))?.clone();
    let scale = sums.scale() as u32;
    providers
        .iter()
        .zip(counts.iter())
        .zip(sums.physical().iter())
        .map(|((provider, n), sum)| {
            let id = provider
                .and_then(&provider_id)
                .ok_or_else(|| Error::Internal(format!("payout aggregation: no provider with index {provider:?}")))?;
            Ok((id.to_string(), n.unwrap_or(0), Decimal::from_i128_with_scale(sum.unwrap_or(0), scale)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any day a Parquet date or datetime column can hold is text; one the
    /// calendar cannot name is refused by the date check, not a panic.
    #[test]
    fn parquet_dates_of_any_day_are_text() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(20_089), "2025-01-01");
        assert_eq!(date_text(i64::from(i32::MAX)), "day 2147483647 after 1970-01-01");
        assert_eq!(date_text(i64::MIN / 86_400), format!("day {} after 1970-01-01", i64::MIN / 86_400));
        assert_eq!(crate::rules::dates::parse_date(&date_text(i64::from(i32::MAX))), None);
    }

    /// Every decimal a Parquet column can hold is exact text; rust_decimal,
    /// which holds 96 bits, would panic on 10^29.
    #[test]
    fn parquet_decimals_of_any_size_are_text() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(42, 0), "42");
        assert_eq!(decimal_text(10i128.pow(29), 0), format!("1{}", "0".repeat(29)));
        assert_eq!(decimal_text(i128::MIN, 3).len(), 41);
        for (m, scale) in [(123456789i128, 2u32), (-1, 4), (7, 0)] {
            assert_eq!(decimal_text(m, scale as usize), Decimal::from_i128_with_scale(m, scale).to_string());
        }
    }

    /// Each group as the twin was handed it: its range and rows.
    type Seen = Vec<(std::ops::Range<usize>, Vec<String>)>;

    /// Writes 53 rows in groups of 10 with a twin that records what it is
    /// handed, building each next group ahead or only after the current one.
    fn written(ahead: bool) -> (Vec<u8>, Seen) {
        let values: Vec<String> = (0..53).map(|i| format!("row {i}")).collect();
        let mut bytes = Vec::new();
        let mut seen = Vec::new();
        write_parquet_with_twin(
            "test",
            values.len(),
            Grouping { rows_per_group: 10, ahead },
            &Tags::new(),
            &mut bytes,
            |group, rows: &mut Vec<String>| {
                *rows = values[group].to_vec();
                DataFrame::new(rows.len(), vec![text("value", rows.iter())]).map_err(internal("test frame"))
            },
            |group, rows| {
                seen.push((group, rows.clone()));
                Ok(())
            },
        )
        .unwrap();
        (bytes, seen)
    }

    #[test]
    fn groups_built_ahead_write_the_same_bytes_and_twins() {
        let (ahead, ahead_seen) = written(true);
        let (in_turn, in_turn_seen) = written(false);
        assert!(ahead == in_turn, "the Parquet bytes differ");
        assert_eq!(ahead_seen, in_turn_seen);
        assert_eq!(ahead_seen.len(), 6);
        assert_eq!(ahead_seen[5], (50..53, vec!["row 50".to_string(), "row 51".into(), "row 52".into()]));
        // The twin of each group got that group's rows although the next
        // group had been filled (into the other buffer) meanwhile.
        for (group, rows) in &ahead_seen {
            let want: Vec<String> = group.clone().map(|i| format!("row {i}")).collect();
            assert_eq!(rows, &want);
        }
        let frame = read_parquet(&ahead).unwrap();
        assert_eq!(frame.height(), 53);
    }
}
