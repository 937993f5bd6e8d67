//! One DataFusion session over every table of a data directory, and read-only SQL on it.

use std::sync::Arc;

use cxm_facts::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use cxm_facts::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use cxm_facts::datafusion::datasource::MemTable;
use cxm_facts::datafusion::error::DataFusionError;
use cxm_facts::datafusion::execution::context::SQLOptions;
use cxm_facts::datafusion::prelude::SessionContext;
use cxm_sql::reference::ColumnType;
use cxm_sql::{ReferenceStore, ReferenceTable};

use crate::{CatalogError, DataDir};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{0}")]
    Sql(DataFusionError),
}

/// A session with the fact tables (live Delta tables) and the reference tables (a snapshot
/// read from SQL) registered under their names.
pub async fn session(dir: &DataDir) -> Result<SessionContext, CatalogError> {
    let ctx = SessionContext::new();
    dir.facts().await?.register(&ctx).await?;
    let store = dir.reference().await?;
    for table in ReferenceTable::ALL {
        let rows = store.rows(table).await?;
        let batch = reference_batch(table, &rows);
        let provider = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(cxm_facts::FactError::from)?;
        ctx.register_table(table.name(), Arc::new(provider))
            .map_err(cxm_facts::FactError::from)?;
    }
    store.close().await;
    Ok(ctx)
}

/// Runs one read-only SQL statement (no DDL, DML or `SET`) and collects its result.
pub async fn read_only_query(dir: &DataDir, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    let ctx = session(dir).await?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = ctx
        .sql_with_options(sql, options)
        .await
        .map_err(QueryError::Sql)?;
    frame.collect().await.map_err(QueryError::Sql)
}

/// Reference rows as Arrow columns: text as Utf8, timestamps as UTC timestamps, JSON as text.
fn reference_batch(table: ReferenceTable, rows: &[cxm_sql::ReferenceRow]) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (index, (name, kind)) in table.columns().iter().enumerate() {
        let values = rows
            .iter()
            .map(|row| row.values.get(index).cloned().flatten());
        match kind {
            ColumnType::Timestamp => {
                let micros: TimestampMicrosecondArray = values
                    .map(|v| {
                        v.and_then(|text| chrono::DateTime::parse_from_rfc3339(&text).ok())
                            .map(|t| t.timestamp_micros())
                    })
                    .collect();
                fields.push(Field::new(
                    *name,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ));
                columns.push(Arc::new(micros.with_timezone("UTC")));
            }
            ColumnType::Text | ColumnType::Json => {
                fields.push(Field::new(*name, DataType::Utf8, index != 0));
                columns.push(Arc::new(values.collect::<StringArray>()));
            }
        }
    }
    // Columns are built to match the fields, so this cannot fail.
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(Schema::empty())))
}
