//! The `Email` type: built once from user input, trusted everywhere after.

use std::fmt;

use crate::error::{DomainError, DomainResult};

/// A syntactically plausible email address, trimmed and lower-cased, so that
/// `Hello@X.com ` and `hello@x.com` are the same customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321's limit on a forward path.
const MAX_LEN: usize = 254;

impl Email {
    /// Parses user input; `field` names the argument in the error.
    pub fn parse(input: &str, field: &str) -> DomainResult<Self> {
        let normalised = input.trim().to_lowercase();
        let invalid = |why: &str| DomainError::bad_input(field, format!("invalid email: {why}"));
        if normalised.is_empty() {
            return Err(invalid("empty"));
        }
        if normalised.len() > MAX_LEN {
            return Err(invalid("too long"));
        }
        if normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("contains spaces or control characters"));
        }
        let Some((local, domain)) = normalised.rsplit_once('@') else {
            return Err(invalid("missing @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid("bad local part"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
            return Err(invalid("bad domain"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Hello@Example.COM ", "email").unwrap();
        assert_eq!(email.as_str(), "hello@example.com");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "no-at.example.com",
            "@example.com",
            "a@b",
            "a@.com",
            "a b@c.com",
            "a@b..com",
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad:?} was accepted");
        }
    }
}
