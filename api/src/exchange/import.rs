//! `clientele import customers FILE.csv`: one upsert per record, by `external_id`
//! or `email`, each in its own transaction, so a rejected row changes nothing and
//! the rows around it are imported. Importing the same file again changes nothing.

use std::fmt;
use std::io::Read;

use uuid::Uuid;

use super::Progress;
use super::export::CUSTOMER_COLUMNS;
use crate::db::Db;
use crate::domain::fields::Change;
use crate::domain::sync::{self, Upsert, Upserted};
use crate::error::DomainError;

/// The columns an import reads (`id` only to match).
const WRITTEN: [&str; 7] = [
    "email",
    "id",
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "metadata",
];

/// A row that was not imported, and why. Rows are numbered as a spreadsheet shows
/// them: the header is row 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub row: u64,
    /// The column at fault; empty when the row as a whole is (a wrong number of cells).
    pub column: String,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "row {}: {}", self.row, self.reason)
        } else {
            write!(
                f,
                "row {}, column {}: {}",
                self.row, self.column, self.reason
            )
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows: {} created, {} updated, {} unchanged, {} rejected",
            self.rows, self.created, self.updated, self.unchanged, self.rejected
        )
    }
}

/// Why an import stopped before the end of the file. The rows before it are
/// imported; running it again picks up where it stopped (the earlier rows are then
/// unchanged).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the header row cannot be used: {0}")]
    Header(String),
    #[error("the file cannot be read: {0}")]
    Read(#[from] csv::Error),
    #[error("stopped at row {row}: {source}")]
    Database { row: u64, source: DomainError },
}

/// Imports the customers of a CSV file, read as a stream from `input`, as upserts
/// recorded under `admin_id`. Each rejected row is passed to `rejected`.
pub async fn import_customers(
    db: &Db,
    admin_id: Uuid,
    input: impl Read,
    progress: &mut Progress,
    mut rejected: impl FnMut(&Rejection),
) -> Result<ImportSummary, ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = reader.headers()?.clone();
    let columns = Columns::of(&header)?;
    let mut summary = ImportSummary::default();
    let mut record = csv::StringRecord::new();
    loop {
        let read = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => Ok(record.position().map_or(0, csv::Position::line)),
            // Not UTF-8: this row alone is refused, and reading goes on after it.
            Err(error) => match error.kind() {
                csv::ErrorKind::Utf8 { pos, .. } => Err(Rejection {
                    row: pos.as_ref().map_or(0, csv::Position::line),
                    column: String::new(),
                    reason: "not UTF-8 text".into(),
                }),
                _ => return Err(error.into()),
            },
        };
        summary.rows += 1;
        let outcome = match read.and_then(|row| columns.upsert(&record, row).map(|u| (row, u))) {
            Err(rejection) => Err(rejection),
            Ok((row, upsert)) => match sync::upsert(db, admin_id, upsert).await {
                Ok((_, upserted)) => Ok(upserted),
                Err(error) => match rejection_of(error, row) {
                    Ok(rejection) => Err(rejection),
                    Err(source) => return Err(ImportError::Database { row, source }),
                },
            },
        };
        match outcome {
            Ok(Upserted::Created) => summary.created += 1,
            Ok(Upserted::Updated) => summary.updated += 1,
            Ok(Upserted::Unchanged) => summary.unchanged += 1,
            Err(rejection) => {
                summary.rejected += 1;
                rejected(&rejection);
            }
        }
        progress.advance(reader.position().byte(), &summary);
    }
    progress.finish(&summary);
    Ok(summary)
}

/// Where each written column is in the file.
struct Columns {
    width: usize,
    at: [Option<usize>; WRITTEN.len()],
}

impl Columns {
    fn of(header: &csv::StringRecord) -> Result<Self, ImportError> {
        let mut at = [None; WRITTEN.len()];
        for (index, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            if let Some(slot) = WRITTEN.iter().position(|known| *known == name) {
                if at[slot].replace(index).is_some() {
                    return Err(ImportError::Header(format!("{name} appears twice")));
                }
            } else if !CUSTOMER_COLUMNS.contains(&name) {
                // The other columns of an export are read past (the database keeps
                // them), so an exported file can be edited and imported again.
                return Err(ImportError::Header(format!(
                    "unknown column {name:?} (known: {})",
                    CUSTOMER_COLUMNS.join(", ")
                )));
            }
        }
        if at[0].is_none() {
            return Err(ImportError::Header("the email column is required".into()));
        }
        Ok(Self {
            width: header.len(),
            at,
        })
    }

    /// The cell of `column`, trimmed; `None` when empty or absent.
    fn cell<'r>(&self, record: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        let slot = WRITTEN.iter().position(|known| *known == column)?;
        let index = self.at[slot]?;
        record.get(index).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The upsert a record asks for. An empty cell leaves the field as it is: an
    /// import adds and changes, it never clears.
    fn upsert(&self, record: &csv::StringRecord, row: u64) -> Result<Upsert, Rejection> {
        if record.len() != self.width {
            return Err(Rejection {
                row,
                column: String::new(),
                reason: format!("{} cells where the header has {}", record.len(), self.width),
            });
        }
        let text = |column: &str| match self.cell(record, column) {
            Some(value) => Change::Set(value.to_owned()),
            None => Change::Keep,
        };
        let metadata = match self.cell(record, "metadata") {
            None => Change::Keep,
            Some(json) => Change::Set(serde_json::from_str(json).map_err(|error| Rejection {
                row,
                column: "metadata".into(),
                reason: format!("not JSON: {error}"),
            })?),
        };
        let id = match self.cell(record, "id") {
            None => None,
            Some(id) => Some(id.parse::<Uuid>().map_err(|_| Rejection {
                row,
                column: "id".into(),
                reason: "not a customer id".into(),
            })?),
        };
        Ok(Upsert {
            id,
            external_id: self.cell(record, "external_id").map(str::to_owned),
            email: self.cell(record, "email").unwrap_or_default().to_owned(),
            first_name: text("first_name"),
            last_name: text("last_name"),
            phone: text("phone"),
            metadata,
        })
    }
}

/// The rejection a domain error stands for, or the error itself when it is not the
/// row's fault (the database is unreachable: the import stops).
fn rejection_of(error: DomainError, row: u64) -> Result<Rejection, DomainError> {
    let (column, reason) = match &error {
        DomainError::BadInput { field, message } => (column_of(field), message.clone()),
        DomainError::EmailTaken | DomainError::EmailTakenBy { .. } => {
            ("email".to_owned(), error.to_string())
        }
        DomainError::ExternalIdTakenBy { .. } => ("external_id".to_owned(), error.to_string()),
        DomainError::Unavailable(_) | DomainError::Timeout | DomainError::Internal { .. } => {
            return Err(error);
        }
        other => (String::new(), other.to_string()),
    };
    Ok(Rejection {
        row,
        column,
        reason,
    })
}

/// `input.externalId` -> `external_id`: the API's field names as the file's columns.
fn column_of(field: &str) -> String {
    let name = field.strip_prefix("input.").unwrap_or(field);
    let mut column = String::with_capacity(name.len() + 2);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            column.push('_');
            column.push(c.to_ascii_lowercase());
        } else {
            column.push(c);
        }
    }
    column
}

#[cfg(test)]
mod tests {
    use super::column_of;

    #[test]
    fn api_fields_become_columns() {
        assert_eq!(column_of("input.externalId"), "external_id");
        assert_eq!(column_of("firstName"), "first_name");
        assert_eq!(column_of("input.email"), "email");
    }
}
