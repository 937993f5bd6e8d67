//! Rows in the canonical CSV formats, written into per-chunk buffers, and the deliberate
//! breakage of a chosen share of rows for ingestion tests.

use crate::model::MAX_ATTRIBUTES;
use rand::RngExt;

/// The files written per customer, in the order of [`ChunkOutput::buffers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CustomerFile {
    Customers = 0,
    Interactions = 1,
    Surveys = 2,
    Transactions = 3,
    CustomerEvents = 4,
}

pub(crate) const CUSTOMER_FILES: [CustomerFile; 5] = [
    CustomerFile::Customers,
    CustomerFile::Interactions,
    CustomerFile::Surveys,
    CustomerFile::Transactions,
    CustomerFile::CustomerEvents,
];

impl CustomerFile {
    pub fn file_name(self) -> &'static str {
        match self {
            CustomerFile::Customers => "customers.csv",
            CustomerFile::Interactions => "interactions.csv",
            CustomerFile::Surveys => "survey_responses.csv",
            CustomerFile::Transactions => "transactions.csv",
            CustomerFile::CustomerEvents => "customer_events.csv",
        }
    }

    /// How rows of this file are broken on purpose: (field index, field, value, why ingest
    /// must reject it). Each makes exactly the row it is in invalid.
    fn breakages(self) -> &'static [Breakage] {
        match self {
            CustomerFile::Customers => CUSTOMERS_BREAKAGES,
            CustomerFile::Interactions => INTERACTIONS_BREAKAGES,
            CustomerFile::Surveys => SURVEYS_BREAKAGES,
            CustomerFile::Transactions => TRANSACTIONS_BREAKAGES,
            CustomerFile::CustomerEvents => CUSTOMER_EVENTS_BREAKAGES,
        }
    }
}

const CUSTOMERS_BREAKAGES: &[Breakage] = &[
    Breakage::new(0, "customer_id", "", "required field missing"),
    Breakage::new(3, "joined_at", "31/31/2024", "not a date"),
];
const INTERACTIONS_BREAKAGES: &[Breakage] = &[
    Breakage::new(1, "customer_id", "", "required field missing"),
    Breakage::new(3, "channel", "carrier pigeon", "unknown channel"),
    Breakage::new(4, "started_at", "2025-02-30T10:00:00Z", "no such day"),
    Breakage::new(7, "hold_seconds", "-42", "negative duration"),
    Breakage::new(11, "resolved", "maybe", "not a boolean"),
    Breakage::new(12, "transfers", "several", "not a number"),
];
const SURVEYS_BREAKAGES: &[Breakage] = &[
    Breakage::new(1, "survey", "poll", "unknown survey kind"),
    Breakage::new(2, "answered_at", "last tuesday", "not a timestamp"),
    Breakage::new(5, "csat", "9", "outside 1-5"),
    Breakage::new(6, "nps", "11", "outside 0-10"),
    Breakage::new(7, "ces", "0", "outside 1-7"),
];
const TRANSACTIONS_BREAKAGES: &[Breakage] = &[
    Breakage::new(2, "occurred_at", "2025-13-01T00:00:00Z", "no such month"),
    Breakage::new(3, "amount", "12.3.4", "not an amount"),
    Breakage::new(4, "kind", "gift", "unknown transaction kind"),
];
const CUSTOMER_EVENTS_BREAKAGES: &[Breakage] = &[
    Breakage::new(1, "occurred_at", "soon", "not a timestamp"),
    Breakage::new(2, "kind", "vanished", "unknown event kind"),
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Breakage {
    pub index: usize,
    pub field: &'static str,
    pub value: &'static str,
    pub reason: &'static str,
}

impl Breakage {
    const fn new(
        index: usize,
        field: &'static str,
        value: &'static str,
        reason: &'static str,
    ) -> Self {
        Breakage {
            index,
            field,
            value,
            reason,
        }
    }
}

/// A row broken on purpose: `row` counts the file's rows within the chunk from 0.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Corruption {
    pub file: CustomerFile,
    pub row: u64,
    pub breakage: Breakage,
}

/// Sums and sums of squares of every contact's latent attribute values and latent
/// satisfaction (the last slot), for the true standardised effects in the ground truth.
/// Chunks are merged in order, so the sums do not depend on the number of threads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LatentMoments {
    pub count: u64,
    pub sum: [f64; MAX_ATTRIBUTES + 1],
    pub sum_squares: [f64; MAX_ATTRIBUTES + 1],
}

impl LatentMoments {
    /// One contact: its attribute latents and its satisfaction latent.
    pub fn add(&mut self, attributes: &[f64], satisfaction: f64) {
        self.count += 1;
        for (k, x) in attributes.iter().chain([&satisfaction]).enumerate() {
            let slot = if k == attributes.len() {
                MAX_ATTRIBUTES
            } else {
                k
            };
            self.sum[slot] += x;
            self.sum_squares[slot] += x * x;
        }
    }

    pub fn merge(&mut self, other: &LatentMoments) {
        self.count += other.count;
        for k in 0..=MAX_ATTRIBUTES {
            self.sum[k] += other.sum[k];
            self.sum_squares[k] += other.sum_squares[k];
        }
    }

    /// Population standard deviation of attribute `k`, or of satisfaction for
    /// `MAX_ATTRIBUTES`.
    pub fn sd(&self, k: usize) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = self.count as f64;
        let mean = self.sum[k] / n;
        (self.sum_squares[k] / n - mean * mean).max(0.0).sqrt()
    }
}

/// What one chunk of customers produced.
pub(crate) struct ChunkOutput {
    pub buffers: [Vec<u8>; 5],
    pub rows: [u64; 5],
    pub corruptions: Vec<Corruption>,
    pub contacts: u64,
    pub customers: u64,
    pub latent: LatentMoments,
}

impl ChunkOutput {
    pub fn new() -> Self {
        ChunkOutput {
            buffers: Default::default(),
            rows: [0; 5],
            corruptions: Vec::new(),
            contacts: 0,
            customers: 0,
            latent: LatentMoments::default(),
        }
    }

    /// Starts a row of `file`; with probability `share` (drawn from `rng`, a stream of its
    /// own so breaking rows changes nothing else) one of its fields gets a broken value.
    pub fn row(&mut self, file: CustomerFile, share: f64, rng: &mut impl RngExt) -> Row<'_> {
        let row = self.rows[file as usize];
        self.rows[file as usize] += 1;
        let mut broken = None;
        if share > 0.0 && rng.random::<f64>() < share {
            let options = file.breakages();
            let breakage = options[rng.random_range(0..options.len())];
            self.corruptions.push(Corruption {
                file,
                row,
                breakage,
            });
            broken = Some(breakage);
        }
        Row {
            buf: &mut self.buffers[file as usize],
            field: 0,
            broken,
        }
    }
}

/// One CSV row being written, field by field.
pub(crate) struct Row<'a> {
    buf: &'a mut Vec<u8>,
    field: usize,
    broken: Option<Breakage>,
}

impl Row<'_> {
    /// Writes the next field with `write`, or the broken value if this field is broken.
    #[inline]
    pub fn field(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        if self.field > 0 {
            self.buf.push(b',');
        }
        match self.broken {
            Some(b) if b.index == self.field => self.buf.extend_from_slice(b.value.as_bytes()),
            _ => write(self.buf),
        }
        self.field += 1;
        self
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        self.field(|b| b.extend_from_slice(text.as_bytes()))
    }

    pub fn int(&mut self, n: impl itoa::Integer) -> &mut Self {
        self.field(|b| push_int(b, n))
    }

    pub fn empty(&mut self) -> &mut Self {
        self.field(|_| {})
    }

    pub fn end(&mut self) {
        self.buf.push(b'\n');
    }
}

pub(crate) fn push_int(buf: &mut Vec<u8>, n: impl itoa::Integer) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n` zero-padded to at least `width` digits.
pub(crate) fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(n);
    for _ in text.len()..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(text.as_bytes());
}

/// Appends an amount in cents as `123.45`.
pub(crate) fn push_cents(buf: &mut Vec<u8>, cents: u64) {
    push_int(buf, cents / 100);
    buf.push(b'.');
    push_padded(buf, cents % 100, 2);
}

/// Appends text as a quoted CSV field (doubling any quote).
pub(crate) fn push_quoted(buf: &mut Vec<u8>, text: &[u8]) {
    buf.push(b'"');
    for &b in text {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let mut b = Vec::new();
        push_cents(&mut b, 12_305);
        b.push(b' ');
        push_cents(&mut b, 7);
        b.push(b' ');
        push_padded(&mut b, 42, 5);
        b.push(b' ');
        push_padded(&mut b, 123_456, 3);
        b.push(b' ');
        push_quoted(&mut b, b"a, \"b\"");
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "123.05 0.07 00042 123456 \"a, \"\"b\"\"\""
        );
    }

    #[test]
    fn breakage_targets_name_the_right_column() {
        let headers = crate::headers(&["ease".into()]);
        for file in CUSTOMER_FILES {
            let columns: Vec<&str> = headers[file as usize].split(',').collect();
            for b in file.breakages() {
                assert_eq!(columns[b.index], b.field, "{file:?}");
            }
        }
    }
}
