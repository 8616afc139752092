//! A GraphQL response written as JSON bytes, the same bytes `serde_json::to_vec` gives.
//!
//! Writing the response was a tenth of a page of 50 customers' instructions
//! (callgrind; docs/performance.md), two thirds of it serde_json escaping strings one
//! byte at a time through a table. Here a string is scanned eight bytes at a time for
//! the three kinds of byte JSON must escape (control characters, `"` and `\`), and the
//! tree is walked directly instead of through serde's map and sequence machinery. The
//! buffer starts at the size of the previous response, so it seldom grows.
//!
//! Numbers, binary values and errors are rare in a response and go through serde_json,
//! so their form stays serde_json's own. The unit tests below hold every string and
//! shape to `serde_json::to_vec`'s bytes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Response, Value};

/// The size of the last response written: the next one likely has the same shape.
static LAST_SIZE: AtomicUsize = AtomicUsize::new(1024);

/// `response` as `serde_json::to_vec` writes it: `data`, then `extensions` and
/// `errors` when they are not empty.
pub fn response_body(response: &Response) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(LAST_SIZE.load(Ordering::Relaxed));
    out.extend_from_slice(b"{\"data\":");
    value(&mut out, &response.data)?;
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        extensions(&mut out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut out, &response.errors)?;
    }
    out.push(b'}');
    LAST_SIZE.store(out.len(), Ordering::Relaxed);
    Ok(out)
}

fn extensions(out: &mut Vec<u8>, extensions: &BTreeMap<String, Value>) -> serde_json::Result<()> {
    out.push(b'{');
    for (index, (key, entry)) in extensions.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        string(out, key);
        out.push(b':');
        value(out, entry)?;
    }
    out.push(b'}');
    Ok(())
}

fn value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(text) => string(out, text),
        Value::Enum(name) => string(out, name),
        Value::List(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                self::value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (index, (key, field)) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                string(out, key);
                out.push(b':');
                self::value(out, field)?;
            }
            out.push(b'}');
        }
        Value::Number(_) | Value::Binary(_) => serde_json::to_writer(&mut *out, value)?,
    }
    Ok(())
}

/// `text` as a JSON string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        escape(out, bytes[at]);
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The position of the first byte from `from` on that must be escaped.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A lane of `word` is zero, found without a branch per byte: exact for whether
    // any lane is (a borrow can only mark lanes after a zero one).
    let zero_lane = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut at = from;
    for chunk in bytes[from..].chunks_exact(8) {
        let mut lanes = [0; 8];
        lanes.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(lanes);
        // Below 0x20: subtracting 0x20 from each lane borrows exactly for those, and
        // no lane of an ASCII-or-UTF-8 byte >= 0x80 is mistaken, as `!word` clears
        // its high bit.
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        let quote = zero_lane(word ^ (ONES * u64::from(b'"')));
        let backslash = zero_lane(word ^ (ONES * u64::from(b'\\')));
        if control | quote | backslash != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&byte| needs_escape(byte))
        .map(|offset| at + offset)
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

fn escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{Name, Number, ServerError};

    use super::*;

    fn same_as_serde(response: &Response) {
        assert_eq!(
            String::from_utf8(response_body(response).unwrap()).unwrap(),
            String::from_utf8(serde_json::to_vec(response).unwrap()).unwrap()
        );
    }

    /// Every byte JSON escapes, at every position around the eight-byte steps, in
    /// strings of every length up to three steps, beside multi-byte characters.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut specials: Vec<char> = (0u8..0x20).map(char::from).collect();
        specials.extend(['"', '\\', '/', '\u{7f}', 'é', '€', '😀', ' ', 'a']);
        for length in 0..24 {
            for position in 0..length.max(1) {
                for &special in &specials {
                    let text: String = (0..length)
                        .map(|index| if index == position { special } else { 'x' })
                        .collect();
                    same_as_serde(&Response::new(Value::String(text)));
                }
            }
        }
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        same_as_serde(&Response::new(Value::String(all)));
    }

    #[test]
    fn every_kind_of_value_is_written_as_serde_json_writes_it() {
        let mut object = async_graphql::indexmap::IndexMap::new();
        object.insert(Name::new("b\"key"), Value::Null);
        object.insert(Name::new("a"), Value::Boolean(true));
        object.insert(Name::new("n"), Value::Number(Number::from(-42)));
        object.insert(
            Name::new("f"),
            Value::Number(Number::from_f64(1.5e-7).unwrap()),
        );
        object.insert(Name::new("e"), Value::Enum(Name::new("ACTIVE")));
        object.insert(Name::new("bin"), Value::Binary(vec![0, 255].into()));
        object.insert(
            Name::new("list"),
            Value::List(vec![Value::Boolean(false), Value::List(Vec::new())]),
        );
        object.insert(
            Name::new("empty"),
            Value::Object(async_graphql::indexmap::IndexMap::new()),
        );
        let mut response = Response::new(Value::Object(object));
        same_as_serde(&response);
        response
            .extensions
            .insert("consistencyToken".into(), Value::String("0/1A".into()));
        response.extensions.insert("a".into(), Value::Null);
        same_as_serde(&response);
        response
            .errors
            .push(ServerError::new("bad \"input\"", None));
        same_as_serde(&response);
        same_as_serde(&Response::new(Value::Null));
    }
}
