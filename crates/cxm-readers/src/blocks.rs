//! Cutting a text stream into blocks of whole records, so that blocks can be parsed on
//! every core while line numbers and row order stay those of the file.
//!
//! A CSV record ends at a line terminator outside quotes. Where a record ends is decided
//! exactly as the `csv` crate reads it (RFC 4180 quoting with doubled quotes; a quote
//! inside an unquoted field is an ordinary character), so parsing the blocks one by one
//! gives the same records as parsing the whole stream.

use std::io::BufRead;
use std::path::PathBuf;

use crate::FileError;

/// Bytes a block aims for; it ends at the last record boundary within them.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Longest record accepted; a longer one fails the file rather than filling memory.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Whole records of a file and the line the first of them starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub bytes: Vec<u8>,
    /// 1-based line number of the block's first byte
    pub first_line: u64,
}

/// How records are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// CSV with this field delimiter and `"` quoting
    Csv { delimiter: u8 },
    /// one record per line (NDJSON)
    Lines,
}

/// Reads a stream as blocks of whole records.
pub struct BlockReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    records: Records,
    /// bytes read past the end of the last block
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("path", &self.path)
            .field("records", &self.records)
            .field("next_line", &self.next_line)
            .finish()
    }
}

impl BlockReader {
    pub fn new(path: PathBuf, reader: Box<dyn BufRead + Send>, records: Records) -> Self {
        Self {
            path,
            reader,
            records,
            carry: Vec::new(),
            next_line: 1,
            eof: false,
        }
    }

    /// The first record alone (a CSV header), `None` for an empty stream.
    pub fn first_record(&mut self) -> Result<Option<Block>, FileError> {
        self.next_cut(false, first_boundary)
    }

    /// The next block of whole records, `None` at the end of the stream. The last block
    /// holds the rest of the stream even when it does not end with a line terminator.
    pub fn next_block(&mut self) -> Result<Option<Block>, FileError> {
        self.next_cut(true, last_boundary)
    }

    /// Cuts the next block at `boundary`; with `rest_at_end`, the whole rest once the
    /// stream has ended.
    fn next_cut(
        &mut self,
        rest_at_end: bool,
        boundary: impl Fn(&[u8], Records) -> Option<usize>,
    ) -> Result<Option<Block>, FileError> {
        let mut bytes = std::mem::take(&mut self.carry);
        let mut target = BLOCK_BYTES.max(bytes.len());
        loop {
            self.fill(&mut bytes, target)?;
            if bytes.is_empty() {
                return Ok(None);
            }
            let cut = match boundary(&bytes, self.records) {
                _ if rest_at_end && self.eof => bytes.len(),
                Some(cut) => cut,
                None if self.eof => bytes.len(),
                None if target >= MAX_RECORD_BYTES => {
                    return Err(FileError::NotReadable {
                        path: self.path.clone(),
                        reason: format!(
                            "the record starting on line {} is longer than {} MiB",
                            self.next_line,
                            MAX_RECORD_BYTES >> 20
                        ),
                    });
                }
                None => {
                    target = (target * 2).min(MAX_RECORD_BYTES);
                    continue;
                }
            };
            let mut rest = Vec::with_capacity(BLOCK_BYTES + BLOCK_BYTES / 8);
            rest.extend_from_slice(&bytes[cut..]);
            self.carry = rest;
            bytes.truncate(cut);
            let first_line = self.next_line;
            self.next_line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
            return Ok(Some(Block { bytes, first_line }));
        }
    }

    /// Reads until `bytes` holds `target` bytes or the stream ends.
    fn fill(&mut self, bytes: &mut Vec<u8>, target: usize) -> Result<(), FileError> {
        while bytes.len() < target && !self.eof {
            let available = self.reader.fill_buf().map_err(|source| FileError::Io {
                path: self.path.clone(),
                source,
            })?;
            if available.is_empty() {
                self.eof = true;
                break;
            }
            let take = available.len().min(target - bytes.len());
            bytes.extend_from_slice(&available[..take]);
            self.reader.consume(take);
        }
        Ok(())
    }
}

/// Where the record that `bytes` starts with ends (just past its terminator).
fn first_boundary(bytes: &[u8], records: Records) -> Option<usize> {
    match records {
        Records::Lines => memchr::memchr(b'\n', bytes).map(|i| i + 1),
        Records::Csv { delimiter } => {
            let line_end = memchr::memchr2(b'\n', b'\r', bytes);
            let quote = memchr::memchr(b'"', bytes);
            match (line_end, quote) {
                (Some(end), None) => Some(csv_terminator_end(bytes, end)),
                (Some(end), Some(quote)) if end < quote => Some(csv_terminator_end(bytes, end)),
                _ => {
                    let mut first = None;
                    csv_boundaries(bytes, delimiter, |end| {
                        first = Some(end);
                        false
                    });
                    first
                }
            }
        }
    }
}

/// A terminator at `at`: `\r\n` counts as one.
fn csv_terminator_end(bytes: &[u8], at: usize) -> usize {
    if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
        at + 2
    } else {
        at + 1
    }
}

/// Where the last whole record in `bytes` ends, when `bytes` starts at a record boundary.
/// Prefers a boundary after `\n`, so a `\r\n` pair is never split.
fn last_boundary(bytes: &[u8], records: Records) -> Option<usize> {
    match records {
        Records::Lines => memchr::memrchr(b'\n', bytes).map(|i| i + 1),
        Records::Csv { delimiter } => {
            if memchr::memchr(b'"', bytes).is_none() {
                return memchr::memrchr(b'\n', bytes)
                    .or_else(|| memchr::memrchr(b'\r', bytes))
                    .map(|i| i + 1);
            }
            let (mut after_lf, mut after_cr) = (None, None);
            csv_boundaries(bytes, delimiter, |end| {
                if bytes[end - 1] == b'\n' {
                    after_lf = Some(end);
                } else {
                    after_cr = Some(end);
                }
                true
            });
            after_lf.or(after_cr)
        }
    }
}

/// The 1-based line a CSV record starts on, from the position the `csv` crate gives it
/// (`line` and `byte` where reading began, in `bytes`). The crate's position precedes the
/// blank lines and the `\n` of a `\r\n` it skips before the record, so those are counted
/// here.
pub fn csv_record_line(bytes: &[u8], line: u64, byte: u64) -> u64 {
    let start = usize::try_from(byte).map_or(bytes.len(), |byte| byte.min(bytes.len()));
    let skipped = bytes[start..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    line + skipped as u64
}

#[derive(Clone, Copy)]
enum State {
    /// at the start of a field (and so of a record)
    FieldStart,
    /// inside a field that did not start with a quote
    Unquoted,
    /// inside a quoted field
    Quoted,
    /// a quote inside a quoted field: it ends the field, or doubles as a literal quote
    QuoteInQuoted,
}

/// Calls `at_end` with the position just past every line terminator outside quotes, until
/// it returns false. Mirrors `csv_core`'s reader with default quoting.
fn csv_boundaries(bytes: &[u8], delimiter: u8, mut at_end: impl FnMut(usize) -> bool) {
    let mut state = State::FieldStart;
    for (index, &byte) in bytes.iter().enumerate() {
        let terminator = byte == b'\n' || byte == b'\r';
        state = match state {
            State::Quoted => {
                if byte == b'"' {
                    State::QuoteInQuoted
                } else {
                    State::Quoted
                }
            }
            State::FieldStart if byte == b'"' => State::Quoted,
            State::QuoteInQuoted if byte == b'"' => State::Quoted,
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                if byte == delimiter {
                    State::FieldStart
                } else if terminator {
                    if !at_end(index + 1) {
                        return;
                    }
                    State::FieldStart
                } else {
                    State::Unquoted
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blocks_of(text: &[u8], records: Records, block_bytes: usize) -> Vec<Vec<u8>> {
        // Cut as the reader does, with a small block size so boundaries fall everywhere.
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let window = &rest[..rest.len().min(block_bytes)];
            let cut = if window.len() == rest.len() {
                rest.len()
            } else {
                match last_boundary(window, records) {
                    Some(cut) => cut,
                    None => first_boundary(rest, records).unwrap_or(rest.len()),
                }
            };
            out.push(rest[..cut].to_vec());
            rest = &rest[cut..];
        }
        out
    }

    fn csv_records(text: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut record = csv::ByteRecord::new();
        let mut out = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let position = record.position().unwrap();
            let line = csv_record_line(text, position.line(), position.byte());
            out.push((line, record.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    #[test]
    fn quoted_terminators_do_not_end_records() {
        let text = b"a,\"b\nc\",d\n\"x\"\"\ny\",z\r\nq\"r,s\n";
        let csv = Records::Csv { delimiter: b',' };
        assert_eq!(first_boundary(text, csv), Some(10));
        assert_eq!(last_boundary(text, csv), Some(text.len()));
        assert_eq!(last_boundary(&text[..15], csv), Some(10));
        // a quote inside an unquoted field is literal: the record ends at the newline
        assert_eq!(first_boundary(b"q\"r,s\nt\n", csv), Some(6));
        assert_eq!(first_boundary(b"a,b\r\nc\n", csv), Some(5));
        assert_eq!(first_boundary(b"\"open", csv), None);
    }

    #[test]
    fn reader_counts_lines_and_keeps_the_unterminated_tail() {
        let text = "h1,h2\n1,\"two\nlines\"\n3,4\n5,6".to_owned();
        let mut reader = BlockReader::new(
            PathBuf::from("t.csv"),
            Box::new(std::io::Cursor::new(text.clone().into_bytes())),
            Records::Csv { delimiter: b',' },
        );
        let header = reader.first_record().unwrap().unwrap();
        assert_eq!(
            (header.bytes.as_slice(), header.first_line),
            (&b"h1,h2\n"[..], 1)
        );
        let block = reader.next_block().unwrap().unwrap();
        assert_eq!(block.first_line, 2);
        assert_eq!(block.bytes, b"1,\"two\nlines\"\n3,4\n5,6");
        assert!(reader.next_block().unwrap().is_none());
    }

    #[test]
    fn record_lines_skip_blank_lines_and_crlf() {
        let lines = |text: &[u8]| {
            csv_records(text)
                .into_iter()
                .map(|(line, _)| line)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(b"a\n\n\nb\nc"), [1, 4, 5]);
        assert_eq!(lines(b"a\r\nb\r\n\r\nc\r\n"), [1, 2, 4]);
        assert_eq!(lines(b"\n\"x\ny\"\n\nz"), [2, 5]);
        assert_eq!(lines(b"a\rb\r\rc"), [1, 1, 1]);
    }

    proptest! {
        /// Parsing block by block gives the records of the whole text with the lines
        /// they start on.
        #[test]
        fn blocks_parse_as_the_whole(
            cells in proptest::collection::vec("[a-c\",\r\n]{0,6}", 0..40),
            block_bytes in 1usize..24,
        ) {
            let text = cells.concat().into_bytes();
            let whole = csv_records(&text);
            let mut pieced = Vec::new();
            let mut line_offset = 0;
            for block in blocks_of(&text, Records::Csv { delimiter: b',' }, block_bytes) {
                for (line, fields) in csv_records(&block) {
                    pieced.push((line + line_offset, fields));
                }
                line_offset += memchr::memchr_iter(b'\n', &block).count() as u64;
            }
            prop_assert_eq!(pieced, whole);
        }
    }
}
