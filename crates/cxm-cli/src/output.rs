//! Printing query results as a table, CSV or JSON.

use std::io::Write;

use cxm_facts::arrow::array::RecordBatch;
use cxm_facts::arrow::util::pretty::pretty_format_batches;

pub fn table(out: &mut impl Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    writeln!(out, "{}", pretty_format_batches(batches)?)?;
    Ok(())
}

pub fn csv(out: &mut impl Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let mut writer = cxm_facts::arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(out);
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(())
}

/// A JSON array of row objects.
pub fn json(out: &mut impl Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let mut writer = cxm_facts::arrow::json::ArrayWriter::new(&mut *out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    writeln!(out)?;
    Ok(())
}
