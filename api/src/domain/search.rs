//! Free-text search as the admin dashboard sends it: bounded before it reaches SQL.
//!
//! Each word becomes one `LIKE` condition, so the length and the number of words bound
//! the size of the statement (an unbounded list of words once built an expression
//! tree deep enough to overflow the stack).

use sea_orm::sea_query::LikeExpr;

use super::fields;
use crate::error::{DomainError, DomainResult};

/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most words in one search.
pub const MAX_SEARCH_WORDS: usize = 8;

/// Search text: trimmed, lower-cased, non-empty, within the bounds above.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchText(String);

impl SearchText {
    /// `None` for absent or blank text; BAD_USER_INPUT on `field` past the bounds.
    pub fn parse(text: Option<&str>, field: &str) -> DomainResult<Option<Self>> {
        // Trimmed, bounded and free of control characters like any typed-in text.
        let Some(text) = fields::optional_text(text.map(str::to_owned), field, MAX_SEARCH_CHARS)?
        else {
            return Ok(None);
        };
        if text.split_whitespace().count() > MAX_SEARCH_WORDS {
            return Err(DomainError::bad_input(
                field,
                format!("must have at most {MAX_SEARCH_WORDS} words"),
            ));
        }
        Ok(Some(Self(text.to_lowercase())))
    }

    /// The whole text, lower-cased.
    pub fn phrase(&self) -> &str {
        &self.0
    }

    /// Its whitespace-separated words, lower-cased.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.0.split_whitespace()
    }
}

/// `LIKE` pattern matching `term` anywhere, with the wildcards in `term` escaped.
pub fn contains_pattern(term: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_bounded() {
        let words = |n: usize| vec!["a"; n].join(" ");
        assert!(SearchText::parse(Some(&words(MAX_SEARCH_WORDS)), "s").is_ok());
        assert!(SearchText::parse(Some(&words(MAX_SEARCH_WORDS + 1)), "s").is_err());
        assert!(SearchText::parse(Some(&"x".repeat(MAX_SEARCH_CHARS + 1)), "s").is_err());
        assert_eq!(SearchText::parse(Some("  "), "s").ok(), Some(None));
        assert!(SearchText::parse(Some("a\u{0}b"), "s").is_err());
        let parsed = SearchText::parse(Some(" Ada  LOVE "), "s").ok().flatten();
        assert_eq!(parsed.as_ref().map(SearchText::phrase), Some("ada  love"));
    }
}
