//! Customers' lifetime values as last computed: one snapshot, replaced whole, ranked most
//! valuable first, so rules about the most valuable customers read only the top ranks.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

use crate::notify::{Param, insert_rows};
use crate::{SqlError, SqlStore};

/// One customer's value in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerValue {
    pub customer_id: String,
    /// discounted margin over the horizon
    pub value: f64,
    pub probability_alive: f64,
    /// 1 is the most valuable
    pub rank: i64,
}

/// When a snapshot was computed and over what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueSnapshot {
    /// RFC 3339, UTC
    pub computed_at: String,
    pub computed_micros: i64,
    /// the last day of the purchase histories, `YYYY-MM-DD`
    pub end_date: String,
    pub customers: i64,
}

impl ValueSnapshot {
    /// How many customers make the top `percent` percent (rounded up; at least one when
    /// there are any).
    pub fn top_count(&self, percent: u32) -> i64 {
        (self.customers * i64::from(percent) + 99) / 100
    }
}

#[async_trait]
pub trait CustomerValueStore: Send + Sync {
    /// Replaces the snapshot with `values` (in any order: they are ranked here, most
    /// valuable first, ties by customer id), in one transaction.
    async fn replace_customer_values(
        &self,
        computed_at: &str,
        computed_micros: i64,
        end_date: &str,
        values: &[(String, f64, f64)],
    ) -> Result<ValueSnapshot, SqlError>;
    /// The snapshot's description, if one was stored.
    async fn value_snapshot(&self) -> Result<Option<ValueSnapshot>, SqlError>;
    /// The `percent` percent most valuable customers of the snapshot, most valuable first.
    async fn top_customer_values(&self, percent: u32) -> Result<Vec<CustomerValue>, SqlError>;
}

#[async_trait]
impl CustomerValueStore for SqlStore {
    async fn replace_customer_values(
        &self,
        computed_at: &str,
        computed_micros: i64,
        end_date: &str,
        values: &[(String, f64, f64)],
    ) -> Result<ValueSnapshot, SqlError> {
        if let Some((id, value, _)) = values
            .iter()
            .find(|(_, value, alive)| !value.is_finite() || !alive.is_finite())
        {
            return Err(SqlError::Refused(format!(
                "customer {id}: value {value} is not a finite number"
            )));
        }
        let mut ranked: Vec<&(String, f64, f64)> = values.iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let rows: Vec<Vec<Param>> = ranked
            .iter()
            .zip(1_i64..)
            .map(|((id, value, alive), rank)| {
                vec![
                    Param::Text(Some(id.clone())),
                    Param::Float(*value),
                    Param::Float(*alive),
                    Param::Int(Some(rank)),
                ]
            })
            .collect();
        let customers = rows.len() as i64;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM customer_values")
            .execute(&mut *tx)
            .await?;
        insert_rows(
            &mut tx,
            "INSERT INTO customer_values (customer_id, value, probability_alive, rank) VALUES",
            "",
            4,
            rows,
        )
        .await?;
        sqlx::query("DELETE FROM customer_value_snapshot")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO customer_value_snapshot (id, computed_at, computed_micros, end_date, customers) \
             VALUES (1, $1, $2, $3, $4)",
        )
        .bind(computed_at.to_owned())
        .bind(computed_micros)
        .bind(end_date.to_owned())
        .bind(customers)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ValueSnapshot {
            computed_at: computed_at.to_owned(),
            computed_micros,
            end_date: end_date.to_owned(),
            customers,
        })
    }

    async fn value_snapshot(&self) -> Result<Option<ValueSnapshot>, SqlError> {
        let row = sqlx::query(
            "SELECT computed_at, computed_micros, end_date, customers FROM customer_value_snapshot",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(ValueSnapshot {
                computed_at: row.try_get(0)?,
                computed_micros: row.try_get(1)?,
                end_date: row.try_get(2)?,
                customers: row.try_get(3)?,
            })
        })
        .transpose()
    }

    async fn top_customer_values(&self, percent: u32) -> Result<Vec<CustomerValue>, SqlError> {
        let Some(snapshot) = self.value_snapshot().await? else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT customer_id, value, probability_alive, rank FROM customer_values \
             WHERE rank <= $1 ORDER BY rank",
        )
        .bind(snapshot.top_count(percent.min(100)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CustomerValue {
                    customer_id: row.try_get(0)?,
                    value: row.try_get(1)?,
                    probability_alive: row.try_get(2)?,
                    rank: row.try_get(3)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_share_rounds_up() {
        let snapshot = |customers| ValueSnapshot {
            computed_at: String::new(),
            computed_micros: 0,
            end_date: String::new(),
            customers,
        };
        assert_eq!(snapshot(1000).top_count(10), 100);
        assert_eq!(snapshot(1001).top_count(10), 101);
        assert_eq!(snapshot(5).top_count(10), 1);
        assert_eq!(snapshot(0).top_count(10), 0);
    }
}
