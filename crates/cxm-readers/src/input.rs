//! Opening an input file: detect gzip and the format, refuse what is not text.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;

use crate::FileError;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv { delimiter: u8 },
    Ndjson,
    Parquet,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
/// How much of the start of a text file is checked for being text.
const SNIFF_BYTES: usize = 64 * 1024;

/// An opened text input (CSV or NDJSON), decompressed when gzip.
pub struct Input {
    pub path: PathBuf,
    pub format: Format,
    pub compressed: bool,
    /// Size of the file on disk, for progress.
    pub size: u64,
    reader: Box<dyn BufRead + Send>,
    consumed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish()
    }
}

impl Input {
    /// Detects the format of `path` from its name (`.csv`, `.tsv`, `.ndjson`, `.jsonl`,
    /// `.json`, `.parquet`, each optionally `.gz`) and its first bytes.
    pub fn detect(path: &Path, delimiter: Option<u8>) -> Result<Format, FileError> {
        let mut head = [0u8; 4];
        let read = File::open(path)
            .and_then(|mut file| read_up_to(&mut file, &mut head))
            .map_err(|source| FileError::Io {
                path: path.to_owned(),
                source,
            })?;
        let head = &head[..read];
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let gzipped = head.starts_with(&GZIP_MAGIC);
        let base = name.strip_suffix(".gz").unwrap_or(&name);
        if head.starts_with(PARQUET_MAGIC) || base.ends_with(".parquet") {
            if gzipped {
                return Err(not_readable(
                    path,
                    "gzip-compressed Parquet is not supported; Parquet compresses internally, ingest the .parquet file",
                ));
            }
            if !head.starts_with(PARQUET_MAGIC) {
                return Err(not_readable(
                    path,
                    "is named .parquet but is not a Parquet file",
                ));
            }
            return Ok(Format::Parquet);
        }
        let format =
            if base.ends_with(".ndjson") || base.ends_with(".jsonl") || base.ends_with(".json") {
                Format::Ndjson
            } else if base.ends_with(".tsv") || base.ends_with(".tab") {
                Format::Csv {
                    delimiter: delimiter.unwrap_or(b'\t'),
                }
            } else {
                Format::Csv {
                    delimiter: delimiter.unwrap_or(b','),
                }
            };
        Ok(format)
    }

    /// Opens a CSV or NDJSON file for streaming, decompressing gzip. Fails when the content
    /// is not text.
    pub fn open_text(path: &Path, format: Format) -> Result<Input, FileError> {
        let io_error = |source| FileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        let mut head = [0u8; 2];
        let read = read_up_to(&mut file, &mut head).map_err(io_error)?;
        let compressed = head[..read] == GZIP_MAGIC;
        let file = File::open(path).map_err(io_error)?;
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = CountingReader {
            inner: file,
            consumed: consumed.clone(),
        };
        let mut reader: Box<dyn BufRead + Send> = if compressed {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, counted)),
            ))
        } else {
            Box::new(BufReader::with_capacity(256 * 1024, counted))
        };
        check_text(path, &mut reader)?;
        Ok(Input {
            path: path.to_owned(),
            format,
            compressed,
            size,
            reader,
            consumed,
        })
    }

    /// Bytes of the file on disk consumed so far.
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    pub fn into_reader(self) -> Box<dyn BufRead + Send> {
        self.reader
    }
}

fn not_readable(path: &Path, reason: &str) -> FileError {
    FileError::NotReadable {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Peeks at the start of the (decompressed) stream: binary content, invalid UTF-8 or a
/// corrupt gzip stream fail the whole file; a UTF-8 byte-order mark is skipped.
fn check_text(path: &Path, reader: &mut Box<dyn BufRead + Send>) -> Result<(), FileError> {
    let mut head: Vec<u8> = Vec::new();
    // fill_buf may return less than asked (e.g. gzip blocks); read until enough or EOF.
    while head.len() < SNIFF_BYTES {
        let chunk = reader.fill_buf().map_err(|source| FileError::NotReadable {
            path: path.to_owned(),
            reason: format!("cannot be read as text: {source}"),
        })?;
        if chunk.is_empty() {
            break;
        }
        if head.is_empty() && chunk.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
            continue;
        }
        // Only peek at the first buffer: consuming would lose data.
        head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES)]);
        break;
    }
    if head.contains(&0) {
        return Err(not_readable(
            path,
            "is a binary file, not CSV or NDJSON text",
        ));
    }
    if let Err(error) = std::str::from_utf8(&head) {
        // A multi-byte character cut at the end of the peek is fine.
        if error.error_len().is_some() {
            return Err(not_readable(
                path,
                &format!(
                    "is not UTF-8 text (invalid byte at offset {})",
                    error.valid_up_to()
                ),
            ));
        }
    }
    Ok(())
}

struct CountingReader<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_formats_and_refuses_binary() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("a.csv");
        std::fs::write(&csv, "a,b\n1,2\n").unwrap();
        assert_eq!(
            Input::detect(&csv, None).unwrap(),
            Format::Csv { delimiter: b',' }
        );
        let tsv = dir.path().join("a.tsv.gz");
        let mut gz =
            flate2::write::GzEncoder::new(File::create(&tsv).unwrap(), flate2::Compression::fast());
        gz.write_all("a\tb\n1\t2\n".as_bytes()).unwrap();
        gz.finish().unwrap();
        assert_eq!(
            Input::detect(&tsv, None).unwrap(),
            Format::Csv { delimiter: b'\t' }
        );
        let mut text = String::new();
        Input::open_text(&tsv, Format::Csv { delimiter: b'\t' })
            .unwrap()
            .into_reader()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a\tb\n1\t2\n");

        let binary = dir.path().join("b.csv");
        std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0, 0, 1]).unwrap();
        let error = Input::open_text(&binary, Format::Csv { delimiter: b',' })
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("is a binary file, not CSV or NDJSON text"),
            "{error}"
        );

        let fake = dir.path().join("c.parquet");
        std::fs::write(&fake, "a,b\n").unwrap();
        assert!(
            Input::detect(&fake, None)
                .unwrap_err()
                .to_string()
                .contains("is not a Parquet file")
        );

        let bad_gzip = dir.path().join("d.csv.gz");
        std::fs::write(
            &bad_gzip,
            [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5],
        )
        .unwrap();
        assert!(Input::open_text(&bad_gzip, Format::Csv { delimiter: b',' }).is_err());

        let bom = dir.path().join("e.csv");
        std::fs::write(&bom, b"\xEF\xBB\xBFa,b\n").unwrap();
        let mut text = String::new();
        Input::open_text(&bom, Format::Csv { delimiter: b',' })
            .unwrap()
            .into_reader()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a,b\n");
    }
}
