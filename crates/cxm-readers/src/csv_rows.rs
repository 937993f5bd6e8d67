//! CSV with a header row, read as blocks of whole records (see [`crate::blocks`]) and
//! parsed record by record. The blocks of one file can be parsed on several threads.

use std::io::{BufRead, Cursor};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csv::ByteRecord;
use cxm_domain::{FieldError, ParseContext, Record};

use crate::blocks::{Block, BlockReader, Records, csv_record_line};
use crate::plan::CanonicalRow;
use crate::{ColumnPlan, FileError, Format, Input, Mapping, Rejection, RowResult, RowSource};

/// Rows of a CSV file as records of one kind.
pub struct CsvRows {
    layout: Arc<CsvLayout>,
    blocks: BlockReader,
    current: Option<CsvBlockRows>,
    consumed: Arc<AtomicU64>,
}

/// What every block of one CSV file needs to be parsed: its header resolved against the
/// kind and mapping.
#[derive(Debug)]
pub struct CsvLayout {
    path: PathBuf,
    plan: ColumnPlan,
    mapping: Mapping,
    delimiter: u8,
    /// For each column, the canonical field it holds, when a row's fields can be taken
    /// straight from its columns ([`ColumnPlan::direct_columns`]; at most
    /// [`MAX_DIRECT_FIELDS`] fields, each column holding at most one).
    field_of_column: Option<Vec<Option<usize>>>,
}

impl std::fmt::Debug for CsvRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvRows")
            .field("path", &self.layout.path)
            .field("columns", &self.layout.plan.header())
            .finish()
    }
}

impl CsvRows {
    /// Reads the header and resolves it against the kind and mapping.
    pub fn open(input: Input, mapping: &Mapping) -> Result<Self, FileError> {
        let delimiter = match input.format {
            Format::Csv { delimiter } => delimiter,
            _ => b',',
        };
        let path = input.path.clone();
        let consumed = input.progress();
        Self::from_reader(path, input.into_reader(), delimiter, mapping, consumed)
    }

    /// CSV from any reader (tests, fuzzing).
    pub fn from_reader(
        path: PathBuf,
        reader: Box<dyn BufRead + Send>,
        delimiter: u8,
        mapping: &Mapping,
        consumed: Arc<AtomicU64>,
    ) -> Result<Self, FileError> {
        let mut blocks = BlockReader::new(path.clone(), reader, Records::Csv { delimiter });
        let empty = || FileError::NotReadable {
            path: path.clone(),
            reason: "is empty: no header row".to_owned(),
        };
        let header_block = blocks.first_record()?.ok_or_else(empty)?;
        let mut header = ByteRecord::new();
        csv_reader(header_block.bytes.as_slice(), delimiter)
            .read_byte_record(&mut header)
            .map_err(|error| csv_error(&path, error))?;
        if header.is_empty() || header.iter().all(<[u8]>::is_empty) {
            return Err(empty());
        }
        let header = header
            .iter()
            .enumerate()
            .map(|(index, column)| {
                std::str::from_utf8(column)
                    .map(|c| c.trim().to_owned())
                    .map_err(|_| FileError::NotReadable {
                        path: path.clone(),
                        reason: format!("header column {} is not UTF-8 text", index + 1),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan = ColumnPlan::resolve(&path, header, mapping)?;
        let field_of_column = fields_of_columns(&plan);
        Ok(Self {
            layout: Arc::new(CsvLayout {
                path,
                plan,
                mapping: mapping.clone(),
                delimiter,
                field_of_column,
            }),
            blocks,
            current: None,
            consumed,
        })
    }

    pub fn plan(&self) -> &ColumnPlan {
        &self.layout.plan
    }

    /// Bytes of the file on disk consumed so far.
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    /// The file's layout and its remaining records as blocks, to parse them elsewhere
    /// (e.g. on several threads) with [`CsvLayout::rows`]. Rows of a block already
    /// started are not included: call this before reading records.
    pub fn into_blocks(self) -> (Arc<CsvLayout>, BlockReader) {
        (self.layout, self.blocks)
    }
}

/// For each column of a file whose rows can be read straight, the canonical field it holds.
fn fields_of_columns(plan: &ColumnPlan) -> Option<Vec<Option<usize>>> {
    let direct = plan.direct_columns()?;
    if direct.len() > MAX_DIRECT_FIELDS {
        return None;
    }
    let mut field_of_column = vec![None; plan.header().len()];
    for (field, column) in direct.iter().enumerate() {
        if let Some(column) = *column {
            let slot = field_of_column.get_mut(column)?;
            if slot.is_some() {
                return None;
            }
            *slot = Some(field);
        }
    }
    Some(field_of_column)
}

fn csv_reader<R: std::io::Read>(reader: R, delimiter: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(reader)
}

fn csv_error(path: &std::path::Path, error: csv::Error) -> FileError {
    match error.into_kind() {
        csv::ErrorKind::Io(source) => FileError::Io {
            path: path.to_owned(),
            source,
        },
        other => FileError::NotReadable {
            path: path.to_owned(),
            reason: format!("is not valid CSV: {other:?}"),
        },
    }
}

/// The row as read, for the quarantine: header name → value.
fn row_as_json(header: &[String], values: &[Option<&str>]) -> serde_json::Value {
    let mut object = serde_json::Map::with_capacity(header.len());
    for (name, value) in header.iter().zip(values) {
        object.insert(
            name.clone(),
            value.map_or(serde_json::Value::Null, |v| {
                serde_json::Value::String(v.to_owned())
            }),
        );
    }
    serde_json::Value::Object(object)
}

impl CsvLayout {
    /// The records of one block of this file.
    pub fn rows(self: &Arc<Self>, block: Block) -> CsvBlockRows {
        let line_offset = block.first_line.saturating_sub(1);
        // Without quotes or carriage returns a record is a non-empty line and its fields
        // lie between delimiters, exactly as the csv crate reads it: split directly.
        let plain = memchr::memchr2(b'"', b'\r', &block.bytes).is_none();
        let source = if plain {
            BlockSource::Plain {
                bytes: block.bytes,
                next: 0,
                next_line: 1,
                current: 0..0,
            }
        } else {
            BlockSource::Quoted {
                reader: csv_reader(Cursor::new(block.bytes), self.delimiter),
                record: ByteRecord::new(),
            }
        };
        CsvBlockRows {
            layout: self.clone(),
            line_offset,
            source,
            line: 0,
        }
    }

    /// The row's canonical field values, when the file's columns are its fields as read
    /// ([`ColumnPlan::direct_columns`]) and the row is text with as many fields as the
    /// header: their number, `values[..n]` filled (`None` for an empty field). `None`
    /// sends the row to the full path, which reads the same values or says why the row is
    /// rejected.
    fn canonical<'r>(
        &self,
        bytes: &'r [u8],
        fields: Fields<'_>,
        values: &mut [Option<&'r str>; MAX_DIRECT_FIELDS],
    ) -> Option<usize> {
        let field_of_column = self.field_of_column.as_deref()?;
        let count = self.plan.direct_columns()?.len();
        let text = std::str::from_utf8(bytes).ok()?;
        values[..count].fill(None);
        // Every field must be text on its own, as the full path requires.
        let (mut aligned, mut columns) = (true, 0);
        fields.for_each(bytes, |column, range| {
            columns += 1;
            match field_of_column.get(column) {
                Some(Some(field)) => match (text.get(range), values.get_mut(*field)) {
                    (Some(value), Some(slot)) => *slot = (!value.is_empty()).then_some(value),
                    _ => aligned = false,
                },
                _ => {
                    aligned &=
                        text.is_char_boundary(range.start) && text.is_char_boundary(range.end);
                }
            }
        });
        (aligned && columns == field_of_column.len()).then_some(count)
    }

    /// The row's record when its fields can be taken straight from its columns
    /// ([`CsvLayout::canonical`]) and it is valid; `None` sends it to the full path.
    fn parse_direct<R: Record>(&self, bytes: &[u8], fields: Fields<'_>) -> Option<R> {
        let mut values = [None; MAX_DIRECT_FIELDS];
        let count = self.canonical(bytes, fields, &mut values)?;
        self.parse_canonical(&values[..count])
    }

    /// The record of a row's canonical field values, when it is valid.
    fn parse_canonical<R: Record>(&self, values: &[Option<&str>]) -> Option<R> {
        R::parse(&CanonicalRow(values), self.mapping.parse_context()).ok()
    }
}

/// Canonical fields at most this many are taken straight from a row (every kind has
/// fewer).
pub const MAX_DIRECT_FIELDS: usize = 32;

/// The records of one block of a CSV file, in order.
pub struct CsvBlockRows {
    layout: Arc<CsvLayout>,
    line_offset: u64,
    source: BlockSource,
    /// the current row's line in the file
    line: u64,
}

/// How a block's records are found.
enum BlockSource {
    /// A block with quotes or carriage returns: the csv crate's reader.
    Quoted {
        reader: csv::Reader<Cursor<Vec<u8>>>,
        record: ByteRecord,
    },
    /// A block without either: every non-empty line is a record.
    Plain {
        bytes: Vec<u8>,
        /// where the next line starts
        next: usize,
        /// 1-based line (within the block) of `next`
        next_line: u64,
        /// the record last returned
        current: Range<usize>,
    },
}

impl BlockSource {
    /// The next record: its line in the file, its bytes and where its fields lie in
    /// them; `None` after the last.
    fn next_raw(&mut self, line_offset: u64, delimiter: u8) -> Option<(u64, &[u8], Fields<'_>)> {
        match self {
            BlockSource::Quoted { reader, record } => {
                match reader.read_byte_record(record) {
                    Ok(true) => {}
                    // Reading from memory fails on no input; treat it as the end.
                    Ok(false) | Err(_) => return None,
                }
                let line = line_offset
                    + record.position().map_or(0, |position| {
                        let bytes = reader.get_ref().get_ref();
                        csv_record_line(bytes, position.line(), position.byte())
                    });
                Some((line, record.as_slice(), Fields::Quoted(record)))
            }
            BlockSource::Plain {
                bytes,
                next,
                next_line,
                current,
            } => {
                // blank lines are no records
                while *next < bytes.len() && bytes[*next] == b'\n' {
                    *next += 1;
                    *next_line += 1;
                }
                if *next >= bytes.len() {
                    return None;
                }
                let end = memchr::memchr(b'\n', &bytes[*next..]).map_or(bytes.len(), |i| *next + i);
                *current = *next..end;
                let line = line_offset + *next_line;
                *next = end + 1;
                *next_line += 1;
                Some((line, &bytes[current.clone()], Fields::Plain(delimiter)))
            }
        }
    }
}

impl CsvBlockRows {
    /// The next row of the block, `None` after the last.
    pub fn next_record<R: Record>(&mut self) -> Option<RowResult<R>> {
        self.advance().then(|| self.parse_current())
    }

    /// Moves to the next row of the block; `false` after the last.
    pub fn advance(&mut self) -> bool {
        match self
            .source
            .next_raw(self.line_offset, self.layout.delimiter)
        {
            Some((line, _, _)) => {
                self.line = line;
                true
            }
            None => false,
        }
    }

    /// How the file's fields are parsed (its mapping's formats and units).
    pub fn parse_context(&self) -> &ParseContext {
        self.layout.mapping.parse_context()
    }

    /// The current row's canonical field values, when the file's columns are its fields
    /// as read and the row is text of the header's width: their number, `values[..n]`
    /// filled (`None` for an empty field), for a caller that takes them without building
    /// a record. `None`: read the row with [`CsvBlockRows::parse_current`].
    pub fn canonical_fields<'s>(
        &'s self,
        values: &mut [Option<&'s str>; MAX_DIRECT_FIELDS],
    ) -> Option<usize> {
        let (bytes, fields) = self.current();
        self.layout.canonical(bytes, fields, values)
    }

    /// The current row's record from the values [`CsvBlockRows::canonical_fields`] gave,
    /// when it is valid (without splitting the row again). `None`: read the row with
    /// [`CsvBlockRows::parse_current`], which says why it is rejected.
    pub fn parse_canonical<R: Record>(&self, values: &[Option<&str>]) -> Option<(u64, R)> {
        let record = self.layout.parse_canonical(values)?;
        Some((self.line, record))
    }

    /// The current row, parsed (after [`CsvBlockRows::advance`]).
    pub fn parse_current<R: Record>(&mut self) -> RowResult<R> {
        let layout = &*self.layout;
        let line = self.line;
        let (all_bytes, fields) = self.current();
        if let Some(record) = layout.parse_direct::<R>(all_bytes, fields) {
            return Ok((line, record));
        }
        let header = layout.plan.header();
        let mut values: Vec<Option<&str>> = Vec::with_capacity(header.len());
        let mut invalid_utf8 = None;
        // One check for the whole record; a field is then text unless a character spans
        // two fields (a field must still start and end on a character boundary).
        let all = std::str::from_utf8(all_bytes).ok();
        fields.for_each(all_bytes, |index, range| {
            let text = match all {
                Some(all) => all.get(range),
                None => std::str::from_utf8(&all_bytes[range]).ok(),
            };
            match text {
                Some(text) => values.push((!text.is_empty()).then_some(text)),
                None => {
                    invalid_utf8.get_or_insert(index);
                    values.push(None);
                }
            }
        });
        if values.len() != header.len() {
            let mut raw = Vec::new();
            fields.for_each(all_bytes, |_, range| {
                raw.push(String::from_utf8_lossy(&all_bytes[range]).into_owned());
            });
            let reason = format!(
                "row has {} fields; the header has {}",
                values.len(),
                header.len()
            );
            return Err(Rejection::malformed(line, reason, raw.join(",")));
        }
        if let Some(index) = invalid_utf8 {
            let column = &header[index];
            let mut value = String::new();
            fields.for_each(all_bytes, |i, range| {
                if i == index {
                    value = String::from_utf8_lossy(&all_bytes[range]).into_owned();
                }
            });
            let error =
                FieldError::new(column, &value, format!("{column} is not valid UTF-8 text"));
            return Err(Rejection::new(
                line,
                vec![error],
                row_as_json(header, &values),
            ));
        }
        R::parse(&layout.plan.row(&values), layout.mapping.parse_context())
            .map(|parsed| (line, parsed))
            .map_err(|errors| Rejection::new(line, errors, row_as_json(header, &values)))
    }

    /// The current row's bytes and where its fields lie in them.
    fn current(&self) -> (&[u8], Fields<'_>) {
        match &self.source {
            BlockSource::Quoted { record, .. } => (record.as_slice(), Fields::Quoted(record)),
            BlockSource::Plain { bytes, current, .. } => (
                &bytes[current.clone()],
                Fields::Plain(self.layout.delimiter),
            ),
        }
    }

    /// The row last returned, as read (column → value).
    pub fn last_row(&self) -> serde_json::Value {
        let (all_bytes, fields) = self.current();
        let mut values = Vec::new();
        fields.for_each(all_bytes, |_, range| {
            values.push(String::from_utf8_lossy(&all_bytes[range]).into_owned());
        });
        let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
        row_as_json(self.layout.plan.header(), &values)
    }
}

/// How a record's fields are found in its bytes.
#[derive(Clone, Copy)]
enum Fields<'a> {
    /// as the csv crate parsed them
    Quoted(&'a ByteRecord),
    /// between delimiters
    Plain(u8),
}

impl Fields<'_> {
    fn for_each(self, record: &[u8], mut each: impl FnMut(usize, Range<usize>)) {
        match self {
            Fields::Quoted(parsed) => {
                for index in 0..parsed.len() {
                    if let Some(range) = parsed.range(index) {
                        each(index, range);
                    }
                }
            }
            Fields::Plain(delimiter) => {
                // Eight bytes at a time: the delimiters of a word are marked, then visited
                // lowest first (fields are short, so a search call per field costs more).
                let (mut field, mut start) = (0, 0);
                let mut split_at = |at: usize| {
                    each(field, start..at);
                    field += 1;
                    start = at + 1;
                };
                let (words, rest) = record.as_chunks::<8>();
                let splat = u64::from_le_bytes([delimiter; 8]);
                for (index, word) in words.iter().enumerate() {
                    let mut marks = zero_bytes(u64::from_le_bytes(*word) ^ splat);
                    while marks != 0 {
                        split_at(index * 8 + marks.trailing_zeros() as usize / 8);
                        marks &= marks - 1;
                    }
                }
                let base = words.len() * 8;
                for (offset, &byte) in rest.iter().enumerate() {
                    if byte == delimiter {
                        split_at(base + offset);
                    }
                }
                each(field, start..record.len());
            }
        }
    }
}

/// The high bit of each zero byte of `word` set, and no other bit: exact, since no sum
/// carries from one byte into the next.
#[inline]
fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !((word & LOW7).wrapping_add(LOW7) | word | LOW7)
}

impl RowSource for CsvRows {
    fn next_record<R: Record>(&mut self) -> Result<Option<RowResult<R>>, FileError> {
        loop {
            if let Some(rows) = &mut self.current
                && let Some(row) = rows.next_record()
            {
                return Ok(Some(row));
            }
            match self.blocks.next_block()? {
                Some(block) => self.current = Some(self.layout.rows(block)),
                None => {
                    self.current = None;
                    return Ok(None);
                }
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn last_row(&self) -> serde_json::Value {
        match &self.current {
            Some(rows) => rows.last_row(),
            None => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxm_domain::{Interaction, RecordKind};

    fn rows(text: &str) -> Result<CsvRows, FileError> {
        rows_mapped(text, &Mapping::identity(RecordKind::Interactions))
    }

    fn rows_mapped(text: &str, mapping: &Mapping) -> Result<CsvRows, FileError> {
        CsvRows::from_reader(
            PathBuf::from("t.csv"),
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            b',',
            mapping,
            Arc::default(),
        )
    }

    #[test]
    fn keeps_valid_neighbours_of_bad_rows() {
        let mut rows = rows(
            "interaction_id,customer_id,agent_id,channel,started_at,hold_seconds,topics\n\
             I1,C1,A1,phone,2024-01-01T10:00:00Z,30,billing;refund\n\
             I2,C1,A1,fax,2024-01-01T11:00:00Z,30,\n\
             I3,C2,A2,chat\n\
             \"I4\",C3,A1,email,2024-01-02T10:00:00+01:00,,\"a;b\"\n",
        )
        .unwrap();
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        while let Some(row) = rows.next_record::<Interaction>().unwrap() {
            match row {
                Ok((line, record)) => accepted.push((line, record.interaction_id.to_string())),
                Err(rejection) => rejected.push((rejection.line, rejection.reasons())),
            }
        }
        assert_eq!(accepted, [(2, "I1".to_owned()), (5, "I4".to_owned())]);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].0, 3);
        assert!(
            rejected[0]
                .1
                .contains("channel \"fax\" is not a known channel")
        );
        assert_eq!(
            rejected[1],
            (4, "row has 4 fields; the header has 7".to_owned())
        );
    }

    #[test]
    fn lines_are_those_of_the_file_across_blank_lines_and_crlf() {
        let mut rows = rows(
            "interaction_id,customer_id,agent_id,channel,started_at\r\n\
             \r\n\
             I1,C1,A1,phone,2024-01-01T10:00:00Z\r\n\
             \n\n\
             I2,C1,A1,fax,2024-01-01T11:00:00Z\n",
        )
        .unwrap();
        let mut lines = Vec::new();
        while let Some(row) = rows.next_record::<Interaction>().unwrap() {
            lines.push(row.map_or_else(|rejection| rejection.line, |(line, _)| line));
        }
        assert_eq!(lines, [3, 6]);
    }

    #[test]
    fn invalid_utf8_rejects_only_that_row() {
        let bytes = b"interaction_id,customer_id,agent_id,channel,started_at\nI1,C\xff,A1,phone,2024-01-01T10:00:00Z\nI2,C2,A1,phone,2024-01-01T10:00:00Z\n".to_vec();
        let mut rows = CsvRows::from_reader(
            PathBuf::from("t.csv"),
            Box::new(std::io::Cursor::new(bytes)),
            b',',
            &Mapping::identity(RecordKind::Interactions),
            Arc::default(),
        )
        .unwrap();
        let first = rows
            .next_record::<Interaction>()
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(first.reasons(), "customer_id is not valid UTF-8 text");
        assert!(rows.next_record::<Interaction>().unwrap().unwrap().is_ok());
        assert!(rows.next_record::<Interaction>().unwrap().is_none());
    }

    fn records_of(mut source: BlockSource) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        while let Some((line, bytes, fields)) = source.next_raw(10, b',') {
            let mut values = Vec::new();
            fields.for_each(bytes, |_, range| values.push(bytes[range].to_vec()));
            out.push((line, values));
        }
        out
    }

    proptest::proptest! {
        /// A block without quotes or carriage returns, split directly, gives the records
        /// and lines the csv crate reads.
        #[test]
        fn plain_blocks_split_as_the_csv_crate_reads(
            cells in proptest::collection::vec("[ab\u{e9},\n]{0,6}", 0..40),
        ) {
            let text = cells.concat().into_bytes();
            let quoted = BlockSource::Quoted {
                reader: csv_reader(Cursor::new(text.clone()), b','),
                record: ByteRecord::new(),
            };
            let plain = BlockSource::Plain { bytes: text, next: 0, next_line: 1, current: 0..0 };
            proptest::prop_assert_eq!(records_of(plain), records_of(quoted));
        }

        /// Exactly the zero bytes of a word are marked, whatever their neighbours (a
        /// borrow-based test would also mark a 0x01 above a zero byte).
        #[test]
        fn zero_bytes_marks_exactly_the_zero_bytes(
            bytes in proptest::array::uniform8(proptest::sample::select(vec![0u8, 1, 0x7f, 0x80, 0x81, 0xff, b',', b'a'])),
        ) {
            let expected = bytes
                .iter()
                .enumerate()
                .filter(|(_, byte)| **byte == 0)
                .fold(0u64, |marks, (index, _)| marks | 0x80 << (index * 8));
            proptest::prop_assert_eq!(zero_bytes(u64::from_le_bytes(bytes)), expected);
        }

        /// Long rows split eight bytes at a time give the fields a byte loop finds, for
        /// any delimiter.
        #[test]
        fn rows_split_by_words_as_byte_by_byte(
            row in proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b';', b'\t', b',', b'a', 0xc3, 0xa9]), 0..70),
            delimiter in proptest::sample::select(vec![b',', b';', b'\t']),
        ) {
            let mut split = Vec::new();
            Fields::Plain(delimiter).for_each(&row, |index, range| split.push((index, range)));
            let expected: Vec<_> = row
                .split(|byte| *byte == delimiter)
                .scan(0, |start, field| {
                    let range = *start..*start + field.len();
                    *start = range.end + 1;
                    Some(range)
                })
                .enumerate()
                .collect();
            proptest::prop_assert_eq!(split, expected);
        }
    }

    /// A row as read: its line and record, or its rejection written out.
    type Outcome = Result<(u64, Interaction), String>;

    /// Every row of `text` as read through `mapping`: the record, or the rejection's
    /// line, reasons and row as read; and whether the rows were read straight from their
    /// columns.
    fn outcomes(text: &str, mapping: &Mapping) -> (Vec<Outcome>, bool) {
        let mut rows = rows_mapped(text, mapping).unwrap();
        let direct = rows.plan().direct_columns().is_some();
        let mut out = Vec::new();
        while let Some(row) = rows.next_record::<Interaction>().unwrap() {
            out.push(row.map_err(|rejection| {
                format!(
                    "{}: {} {}",
                    rejection.line,
                    rejection.reasons(),
                    rows.last_row()
                )
            }));
        }
        (out, direct)
    }

    fn field() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            4 => "[A-Z]-[0-9]{1,4}",
            1 => Just(String::new()),
            1 => Just(" ".to_owned()),
            1 => Just(" A-1 ".to_owned()),
            1 => Just("\"x,y\"".to_owned()),
            1 => Just("\u{e9}t\u{e9}".to_owned()),
            1 => Just("a;b;a".to_owned()),
            1 => Just("phone".to_owned()),
            1 => Just("Chat".to_owned()),
            1 => Just("fax".to_owned()),
            2 => "2024-0[1-9]-[0-3][0-9]T1[0-9]:00:00Z",
            1 => Just("2024-02-01 10:00:00".to_owned()),
            1 => Just("2024-02-01T10:00:00+01:00".to_owned()),
            2 => "[0-9]{1,4}",
            1 => Just("1:30".to_owned()),
            1 => Just("-4".to_owned()),
            1 => Just("2.6".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just("No".to_owned()),
        ]
    }

    proptest::proptest! {
        /// A file whose columns are its fields as read takes each row's fields straight
        /// from its columns; the same rows through the column plan (a value map that maps
        /// nothing of them) give the same records and the same rejections.
        #[test]
        fn rows_taken_straight_from_their_columns_read_as_through_the_plan(
            rows in proptest::collection::vec(
                (proptest::collection::vec(field(), 12), 10usize..=12),
                1..24,
            ),
        ) {
            let mut text = "interaction_id,customer_id,agent_id,channel,started_at,\
                talk_seconds,hold_seconds,after_work_seconds,topics,resolved,transfers,note\n"
                .to_owned();
            for (fields, width) in &rows {
                text.push_str(&fields[..*width].join(","));
                text.push('\n');
            }
            let direct = Mapping::identity(RecordKind::Interactions);
            let planned = Mapping::parse(
                "[values.channel]\n\"never-exported\" = \"phone\"",
                RecordKind::Interactions,
            )
            .unwrap();
            let (straight, read_straight) = outcomes(&text, &direct);
            let (through_plan, read_straight_too) = outcomes(&text, &planned);
            proptest::prop_assert!(read_straight && !read_straight_too);
            proptest::prop_assert_eq!(straight, through_plan);
        }
    }

    #[test]
    fn only_files_whose_columns_are_the_fields_are_read_straight() {
        let header = |text: &str, mapping: &str| {
            let mapping = Mapping::parse(mapping, RecordKind::Interactions).unwrap();
            let rows = rows_mapped(&format!("{text}\n"), &mapping).unwrap();
            rows.plan().direct_columns().map(<[_]>::to_vec)
        };
        let canonical = "agent_id,interaction_id,customer_id,channel,started_at,extra";
        let direct = header(canonical, "").unwrap();
        assert_eq!(direct[..5], [Some(1), Some(2), Some(0), Some(3), Some(4)]);
        assert!(direct[5..].iter().all(Option::is_none));
        assert!(header(canonical, "[constants]\nresolved = \"true\"").is_none());
        assert!(header(canonical, "[values.channel]\n\"Tel\" = \"phone\"").is_none());
    }

    #[test]
    fn a_row_of_the_wrong_width_is_quoted_back_as_read() {
        let mut rows = rows(
            "interaction_id,customer_id,agent_id,channel,started_at\n\nI1,C1\nI2,C\u{e9},A1,phone,2024-01-01T10:00:00Z\n",
        )
        .unwrap();
        let rejection = rows
            .next_record::<Interaction>()
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(rejection.line, 3);
        assert_eq!(rejection.reasons(), "row has 2 fields; the header has 5");
        let (line, record) = rows.next_record::<Interaction>().unwrap().unwrap().unwrap();
        assert_eq!((line, record.customer_id.as_str()), (4, "C\u{e9}"));
        assert_eq!(rows.last_row()["customer_id"], "C\u{e9}");
    }

    #[test]
    fn rows_parsed_from_their_canonical_values_are_those_parse_current_gives() {
        // padded, spelled otherwise, a clock duration, and a row that is rejected
        let text = "interaction_id,customer_id,agent_id,channel,started_at,hold_seconds,resolved\n\
                    I1,C1, A1 ,Phone,2024-01-01T10:00:00Z,1:30,TRUE\n\
                    I2,C2,A2,phone,2024-01-01T11:00:00Z,,\n\
                    I3,C3,A3,fax,2024-01-01T12:00:00Z,5,\n";
        let (layout, mut blocks) = rows(text).unwrap().into_blocks();
        let mut rows = layout.rows(blocks.next_block().unwrap().unwrap());
        let mut seen = 0;
        while rows.advance() {
            seen += 1;
            let mut values = [None; MAX_DIRECT_FIELDS];
            let count = rows
                .canonical_fields(&mut values)
                .expect("canonical columns");
            let straight = rows.parse_canonical::<Interaction>(&values[..count]);
            match rows.parse_current::<Interaction>() {
                Ok(expected) => assert_eq!(straight, Some(expected)),
                Err(rejection) => {
                    assert!(straight.is_none(), "{rejection:?}");
                }
            }
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn empty_file_fails() {
        assert!(rows("").unwrap_err().to_string().contains("no header row"));
    }
}
