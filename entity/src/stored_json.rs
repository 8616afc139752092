//! A JSON column that can always be read.
//!
//! A JSON value that the database holds but serde_json cannot decode (nested deeper
//! than its recursion limit, say, written by hand or by an older release) must not make
//! the whole row unreadable: one bad `metadata` would otherwise fail every page of
//! customers that contains it, the customer's login and the admin's repair. Decoding
//! therefore fails for this one column only, as [`StoredJson::Unreadable`], and the
//! API reports it on that one field.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, Value, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, QueryResult, TryGetError, TryGetable};

#[derive(Clone, Debug, PartialEq)]
pub enum StoredJson {
    Value(serde_json::Value),
    /// The stored text is not JSON that can be decoded; it is never written back.
    Unreadable,
}

impl StoredJson {
    /// The value, if it could be decoded.
    pub fn readable(&self) -> Option<&serde_json::Value> {
        match self {
            Self::Value(value) => Some(value),
            Self::Unreadable => None,
        }
    }
}

impl From<serde_json::Value> for StoredJson {
    fn from(value: serde_json::Value) -> Self {
        Self::Value(value)
    }
}

impl TryGetable for StoredJson {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        match serde_json::Value::try_get_by(res, index) {
            Ok(value) => Ok(Self::Value(value)),
            Err(TryGetError::Null(column)) => Err(TryGetError::Null(column)),
            Err(TryGetError::DbErr(_)) => Ok(Self::Unreadable),
        }
    }
}

impl From<StoredJson> for Value {
    fn from(json: StoredJson) -> Self {
        match json {
            StoredJson::Value(value) => Value::Json(Some(Box::new(value))),
            // Would write NULL. The domain never sets an unreadable value: it only
            // writes values it built and bounded itself.
            StoredJson::Unreadable => Value::Json(None),
        }
    }
}

impl Nullable for StoredJson {
    fn null() -> Value {
        Value::Json(None)
    }
}

impl ValueType for StoredJson {
    fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
        match value {
            Value::Json(Some(json)) => Ok(Self::Value(*json)),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "StoredJson".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Json
    }

    fn column_type() -> ColumnType {
        ColumnType::Json
    }
}

/// As exported (a subject-access export): the value itself, or null for a value that
/// cannot be decoded, since there is nothing readable to give.
impl serde::Serialize for StoredJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.readable().serialize(serializer)
    }
}
