//! Moving customers and orders in and out as CSV files: `clientele import customers
//! FILE.csv` and `clientele export customers|orders > FILE.csv`.
//!
//! Both stream: an import reads one record at a time and upserts it in a transaction
//! of its own (through `domain::sync`, exactly as `upsertCustomer` would), an export
//! reads the table in keyset pages and writes each page out before reading the next.
//! Memory stays flat whatever the file's size. The format is in docs/import-export.md.

mod export;
mod import;
mod progress;

pub use export::{export_customers, export_orders};
pub use import::{ImportError, ImportSummary, Rejection, import_customers};
pub use progress::Progress;
