//! Documents already parsed and priced, by their text.
//!
//! Storefronts and the dashboard send the same few documents again and again (a
//! generated client has a fixed set). Parsing one (pest) and pricing it against the
//! limits was about 6 % of the server's CPU for a customer by id, in a perf profile
//! under wrk; a document found here skips both and is cloned instead (its names are
//! shared `Arc<str>`s). The variables are still coerced on every request.
//!
//! A kept document also remembers whether the engine's full validation has passed it
//! ([`Checked::engine_validated`]): from then on it runs on the engine's quick mode.
//!
//! Only documents that passed the limits are kept, at most [`MAX_DOCUMENTS`] and
//! [`MAX_TEXT_BYTES`] of text in all; when full, the least recently used goes. A
//! client that sends endless distinct documents only evicts others: it costs them a
//! parse, never correctness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;

use super::limits::Prepared;
use super::validation::Remembered;

/// Most documents kept.
pub const MAX_DOCUMENTS: usize = 256;
/// Most text kept, in bytes, over all documents (their trees take a few times more).
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// Most bytes reserved up front for a response ([`Checked::response_capacity`]): a
/// larger one grows as it is written.
pub const MAX_RESERVED: usize = 1 << 20;

/// A document that passed the limits, with what the request path needs of it.
#[derive(Debug)]
pub struct Checked {
    pub document: ExecutableDocument,
    pub prepared: Prepared,
    engine_validated: AtomicBool,
    /// The quick validation's results ([`super::validation`]).
    pub remembered: Remembered,
    /// The length of the last response to this document, in bytes.
    last_response_bytes: AtomicUsize,
}

impl Checked {
    pub fn new(document: ExecutableDocument, prepared: Prepared) -> Self {
        Self {
            document,
            prepared,
            engine_validated: AtomicBool::new(false),
            remembered: Remembered::default(),
            last_response_bytes: AtomicUsize::new(0),
        }
    }

    /// Whether the engine's full validation has passed this document once.
    ///
    /// That validation is a fifth of the instructions of a customer by id (callgrind), and all
    /// of it but one rule depends on the text and the schema alone, which do not
    /// change: the exception is the variables' values, which
    /// [`super::limits::DocumentLimits::prepare`] checks against their declared types
    /// on every request before the engine sees them. So a document validated once
    /// runs on the schema built with the engine's quick validation mode (which still
    /// computes the complexity budget and the depth, or finds them remembered for
    /// the same variables: [`super::validation`]) and loses nothing.
    pub fn engine_validated(&self) -> bool {
        self.engine_validated.load(Ordering::Relaxed)
    }

    /// Records that the engine's full validation passed this document.
    pub fn mark_engine_validated(&self) {
        self.engine_validated.store(true, Ordering::Relaxed);
    }

    /// What to reserve for the next response to this document: the last one's length
    /// and a little more. Responses to one document are alike in size (a page of 50
    /// customers with their addresses, about 50 KB), and a buffer grown by doubling
    /// from empty copies about as much again on the way. Never more than
    /// [`MAX_RESERVED`].
    pub fn response_capacity(&self) -> usize {
        let last = self.last_response_bytes.load(Ordering::Relaxed);
        (last + last / 8).min(MAX_RESERVED)
    }

    /// Records the length of a response to this document.
    pub fn record_response_bytes(&self, bytes: usize) {
        self.last_response_bytes.store(bytes, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_text: HashMap<Arc<str>, Entry>,
    /// Ticks on every hit and insert: a recency stamp.
    clock: u64,
    text_bytes: usize,
}

#[derive(Debug)]
struct Entry {
    checked: Arc<Checked>,
    used: u64,
}

impl DocumentCache {
    pub fn get(&self, text: &str) -> Option<Arc<Checked>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_text.get_mut(text)?;
        entry.used = now;
        Some(entry.checked.clone())
    }

    pub fn insert(&self, text: &str, checked: Arc<Checked>) {
        if text.len() > MAX_TEXT_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.by_text.contains_key(text) {
            return;
        }
        while !entries.by_text.is_empty()
            && (entries.by_text.len() >= MAX_DOCUMENTS
                || entries.text_bytes + text.len() > MAX_TEXT_BYTES)
        {
            entries.evict_oldest();
        }
        entries.clock += 1;
        let used = entries.clock;
        entries.text_bytes += text.len();
        entries
            .by_text
            .insert(Arc::from(text), Entry { checked, used });
    }
}

impl Entries {
    /// A scan: only a miss that finds the cache full pays it, and it is short.
    fn evict_oldest(&mut self) {
        let oldest = self
            .by_text
            .iter()
            .min_by_key(|(_, entry)| entry.used)
            .map(|(text, _)| text.clone());
        if let Some(text) = oldest {
            self.by_text.remove(&text);
            self.text_bytes -= text.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(text: &str) -> Arc<Checked> {
        Arc::new(Checked::new(
            async_graphql::parser::parse_query(text).unwrap(),
            Prepared::default(),
        ))
    }

    #[test]
    fn reserves_about_the_last_response_and_never_more_than_the_cap() {
        let document = checked("{ a }");
        assert_eq!(document.response_capacity(), 0);
        document.record_response_bytes(60_000);
        assert_eq!(document.response_capacity(), 67_500);
        document.record_response_bytes(100 << 20);
        assert_eq!(document.response_capacity(), MAX_RESERVED);
    }

    #[test]
    fn keeps_the_recently_used_within_its_bounds() {
        let cache = DocumentCache::default();
        let text = |n: usize| format!("{{ a{n} }}");
        for n in 0..MAX_DOCUMENTS {
            cache.insert(&text(n), checked(&text(n)));
        }
        // The first is used again, so the next insert evicts the second instead.
        assert!(cache.get(&text(0)).is_some());
        cache.insert(&text(MAX_DOCUMENTS), checked(&text(MAX_DOCUMENTS)));
        let kept = |cache: &DocumentCache| {
            let entries = cache.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.by_text.len()
        };
        assert_eq!(kept(&cache), MAX_DOCUMENTS);
        assert!(cache.get(&text(0)).is_some());
        assert!(cache.get(&text(1)).is_none());
        assert!(cache.get(&text(MAX_DOCUMENTS)).is_some());

        // Text beyond the byte budget evicts as much as it needs.
        let long = format!("{{ {} }}", "b ".repeat(MAX_TEXT_BYTES / 2 - 4));
        cache.insert(&long, checked("{ b }"));
        assert!(cache.get(&long).is_some());
        let entries = cache.entries.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(entries.text_bytes <= MAX_TEXT_BYTES);
        let kept: usize = entries.by_text.keys().map(|t| t.len()).sum();
        assert_eq!(kept, entries.text_bytes);
    }
}
