//! The workflow store: reference data (customers, org units, people, memberships, topics)
//! and, later, workflow state, in SQL. SQLite is the embedded default (a file in the data
//! directory); PostgreSQL is chosen by a `postgres://` URL. Both run the same statements
//! (written with `$N` placeholders, which both understand) through sqlx; each has its own
//! migrations.

pub mod accounts;
pub mod cases;
pub mod error;
pub mod ideas;
pub mod notify;
pub mod recognition;
pub mod reference;
pub mod store;
pub mod targets;
pub mod values;

pub use accounts::{AccountStore, ApiToken, AuditEntry, Credentials, Session, TokenScope, User};
pub use cases::{Case, CaseChange, CaseEvent, CaseFilter, CaseStore, NewCase, StoredRule};
pub use error::SqlError;
pub use ideas::{Idea, IdeaChange, IdeaDetail, IdeaEvent, IdeaFilter, IdeaStore, Initiative, Vote};
pub use notify::{AttemptOutcome, Delivery, DueDelivery, Notification, NotifyStore, StoredWebhook};
pub use recognition::{Kudos, NewKudos, RecognitionFilter, RecognitionStore, Story};
pub use reference::{ReferenceRow, ReferenceTable};
pub use store::{Backend, ReferenceStore, SqlStore, UpsertCounts, UpsertSession};
pub use targets::{ScopeKind, Target, TargetStore};
pub use values::{CustomerValue, CustomerValueStore, ValueSnapshot};
