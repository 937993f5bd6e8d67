//! Answers kept for the life of an engine: metric questions (those not answered ahead)
//! and distributions. The data behind an engine never changes (new data opens a new
//! engine), so a page asked for again, or by many people at once, is computed once:
//! concurrent askers of the same question wait for the one computation instead of each
//! scanning millions of rows or summing a year of rollup cells.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::MetricsError;

/// Questions kept per cache; past it the cache starts again (a dashboard asks a few).
const CAPACITY: usize = 64;

pub(crate) struct ScanCache<T> {
    entries: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for ScanCache<T> {
    fn default() -> Self {
        ScanCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> std::fmt::Debug for ScanCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("ScanCache").field("kept", &kept).finish()
    }
}

impl<T: Clone> ScanCache<T> {
    /// The answer kept under `key`, or `compute`'s (kept when it succeeds; a failure is
    /// not kept, so the next asker tries again).
    pub(crate) async fn get_or_compute<F, Fut>(
        &self,
        key: String,
        compute: F,
    ) -> Result<T, MetricsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, MetricsError>>,
    {
        let cell = {
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| MetricsError::Internal("the scan cache was poisoned".into()))?;
            if entries.len() >= CAPACITY && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.entry(key).or_default().clone()
        };
        cell.get_or_try_init(compute).await.cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_question_is_computed_once_and_failures_are_not_kept() {
        let cache: ScanCache<u64> = ScanCache::default();
        let runs = AtomicUsize::new(0);
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(42)
        };
        let (a, b) = tokio::join!(
            cache.get_or_compute("q".into(), compute),
            cache.get_or_compute("q".into(), compute)
        );
        assert_eq!((a.unwrap(), b.unwrap()), (42, 42));
        assert_eq!(cache.get_or_compute("q".into(), compute).await.unwrap(), 42);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "computed once");
        let failed = cache
            .get_or_compute("r".into(), || async {
                Err::<u64, _>(MetricsError::Internal("disk gone".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.get_or_compute("r".into(), compute).await.unwrap(), 42);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
