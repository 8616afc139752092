//! Free-text and JSON fields people type into forms: names, phone numbers, metadata.
//! Each is trimmed, bounded and named in the error when it is not acceptable.

use entity::stored_json::StoredJson;
use serde_json::Value;

use crate::error::{DomainError, DomainResult};

/// Longest name, company, street or city, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest phone number, in characters.
pub const MAX_PHONE_CHARS: usize = 50;
/// Largest metadata object, serialised.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Deepest nesting of a metadata value (the object itself is level 1). Far below the
/// 128 levels at which serde_json stops decoding, so whatever is written can be read.
pub const MAX_METADATA_DEPTH: usize = 32;

/// Optional text: trimmed, empty means absent, at most `max` characters.
pub fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
) -> DomainResult<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(DomainError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// Metadata: a JSON object of bounded size (arrays and scalars are rejected so the
/// merchant's tools can always add keys).
pub fn metadata(value: Option<Value>, field: &str) -> DomainResult<Option<Value>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if !value.is_object() {
        return Err(DomainError::bad_input(field, "must be a JSON object"));
    }
    // PostgreSQL's JSON cannot hold a NUL character, so neither backend takes one.
    if contains_nul(&value) {
        return Err(DomainError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    if depth(&value) > MAX_METADATA_DEPTH {
        return Err(DomainError::bad_input(
            field,
            format!("must nest at most {MAX_METADATA_DEPTH} levels deep"),
        ));
    }
    if value.to_string().len() > MAX_METADATA_BYTES {
        return Err(DomainError::bad_input(
            field,
            format!("must be at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(Some(value))
}

/// Whether any key or string in `value` holds U+0000. Iterative, like [`depth`].
fn contains_nul(value: &Value) -> bool {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) if s.contains('\0') => return true,
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                pending.extend(map.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    false
}

/// How deeply `value` nests (a scalar is 0, `{}` is 1). Iterative: the input may be
/// deeper than the stack allows recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0)];
    while let Some((value, level)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        pending.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

/// Merges a metadata patch into the current object, key by key: a key set to `null`
/// is removed, other keys are replaced. Tools that each own a few keys then never
/// clobber each other's.
pub fn merge_metadata(current: Option<Value>, patch: Value) -> Option<Value> {
    let mut merged = match current {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if let Value::Object(patch) = patch {
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
    }
    (!merged.is_empty()).then_some(Value::Object(merged))
}

/// Metadata as it is written to the database.
pub fn stored(value: Option<Value>) -> Option<StoredJson> {
    value.map(StoredJson::Value)
}

/// Applies a metadata change: `Keep`, `Clear`, or merge a patch (see
/// [`merge_metadata`]); the patch must be an object and the result stays within the
/// bounds. A patch onto a stored value that cannot be read replaces it: that is how
/// an admin repairs it.
pub fn apply_metadata(
    current: Option<StoredJson>,
    change: Change<Value>,
    field: &str,
) -> DomainResult<Option<StoredJson>> {
    match change {
        Change::Keep => Ok(current),
        Change::Clear => Ok(None),
        Change::Set(patch) => {
            let patch = metadata(Some(patch), field)?;
            let current = match current {
                Some(StoredJson::Value(value)) => Some(value),
                Some(StoredJson::Unreadable) | None => None,
            };
            let merged = patch.and_then(|patch| merge_metadata(current, patch));
            Ok(stored(metadata(merged, field)?))
        }
    }
}

/// A change to one optional field: leave it, clear it, or set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }

    /// Applies `check` to a new value; an empty result (blank text) clears the field.
    pub fn try_map<U>(
        self,
        check: impl FnOnce(Option<T>) -> DomainResult<Option<U>>,
    ) -> DomainResult<Change<U>> {
        Ok(match self {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set(value) => match check(Some(value))? {
                Some(value) => Change::Set(value),
                None => Change::Clear,
            },
        })
    }

    /// The field's new value, given its current one.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(value) => Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_blank_means_absent() {
        assert_eq!(
            optional_text(Some("  Ada ".into()), "firstName", 10).unwrap(),
            Some("Ada".into())
        );
        assert_eq!(
            optional_text(Some("   ".into()), "firstName", 10).unwrap(),
            None
        );
        assert!(optional_text(Some("x".repeat(11)), "firstName", 10).is_err());
        assert!(optional_text(Some("a\u{0}b".into()), "firstName", 10).is_err());
    }

    #[test]
    fn metadata_merges_key_by_key() {
        let current = Some(serde_json::json!({ "a": 1, "b": 2 }));
        let merged = merge_metadata(current, serde_json::json!({ "b": null, "c": 3 }));
        assert_eq!(merged, Some(serde_json::json!({ "a": 1, "c": 3 })));
        assert_eq!(merge_metadata(None, serde_json::json!({ "a": null })), None);
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(metadata(Some(serde_json::json!({"a": 1})), "metadata").is_ok());
        assert!(metadata(Some(serde_json::json!([1])), "metadata").is_err());
        let big = serde_json::json!({ "a": "x".repeat(MAX_METADATA_BYTES) });
        assert!(metadata(Some(big), "metadata").is_err());
    }

    #[test]
    fn metadata_nesting_is_bounded() {
        let nested = |levels: usize| {
            (1..levels).fold(
                serde_json::json!({}),
                |inner, _| serde_json::json!({ "a": inner }),
            )
        };
        assert_eq!(depth(&nested(3)), 3);
        assert!(metadata(Some(nested(MAX_METADATA_DEPTH)), "metadata").is_ok());
        assert!(metadata(Some(nested(MAX_METADATA_DEPTH + 1)), "metadata").is_err());
    }

    #[test]
    fn metadata_holds_no_nul() {
        assert!(metadata(Some(serde_json::json!({ "a": ["x\u{0}"] })), "m").is_err());
        assert!(metadata(Some(serde_json::json!({ "a\u{0}": 1 })), "m").is_err());
    }

    #[test]
    fn a_patch_replaces_unreadable_metadata() {
        let patched = apply_metadata(
            Some(StoredJson::Unreadable),
            Change::Set(serde_json::json!({ "a": 1 })),
            "metadata",
        );
        assert_eq!(
            patched.ok().flatten(),
            Some(StoredJson::Value(serde_json::json!({ "a": 1 })))
        );
    }
}
