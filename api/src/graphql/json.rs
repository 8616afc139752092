//! A GraphQL response's JSON, written as serde_json would write it, but faster.
//!
//! Two things make it faster than serde_json over the response's value tree:
//!
//! - **Objects written as they are answered.** Most of a page's objects are plain
//!   data (a customer's columns, its addresses, its groups), and building each as a
//!   map of values, only to write it and drop it, was most of a page's CPU
//!   (callgrind; docs/performance.md). `graphql/plain.rs` writes such an object's
//!   JSON when it is answered and carries it to this writer as [`written`], which
//!   copies it into the body. It does so only in a request the HTTP edge marked with
//!   [`WrittenResponse`], whose response this module writes; anywhere else (a
//!   subscription's events, which async-graphql serialises itself) the executor
//!   answers those objects as maps.
//! - **Strings checked eight bytes at a time** for a byte JSON must escape (a quote,
//!   a backslash, a control character: the same set as serde_json's); a string with
//!   none (nearly every string) is copied as it is.
//!
//! The bytes are the same as `serde_json::to_writer`'s (tests hold them to it).

use async_graphql::{Name, Response, Value};

/// Request data: this request's response is written by [`write_response`], so an
/// object may answer with its JSON already [`written`].
pub struct WrittenResponse;

/// A value whose JSON is already written: `json`, one whole JSON value, which
/// [`write_value`] copies as it is.
///
/// Carried as `Value::Binary`, which no field of the schema returns (it has no
/// upload or bytes scalar), so the variant is free for it; serde would write it as
/// an array of numbers, which is why only a request marked [`WrittenResponse`]
/// makes one.
pub fn written(json: Vec<u8>) -> Value {
    Value::Binary(json.into())
}

/// Appends `response` as JSON: `data`, then `extensions` and `errors` when present.
pub fn write_response(out: &mut Vec<u8>, response: &Response) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"data\":");
    write_value(out, &response.data);
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut *out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut *out, &response.errors)?;
    }
    out.push(b'}');
    Ok(())
}

/// Appends `value` as JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(yes) => write_bool(out, *yes),
        // serde_json's `Display` of a number uses the same formatters as its writer.
        Value::Number(number) => out.extend_from_slice(number.to_string().as_bytes()),
        Value::String(text) => write_str(out, text),
        Value::Enum(name) => write_str(out, name),
        Value::Binary(json) => out.extend_from_slice(json),
        Value::List(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (n, (key, field)) in fields.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_key(out, key);
                write_value(out, field);
            }
            out.push(b'}');
        }
    }
}

/// Appends an object's key and its colon.
fn write_key(out: &mut Vec<u8>, key: &Name) {
    write_str(out, key);
    out.push(b':');
}

pub fn write_bool(out: &mut Vec<u8>, yes: bool) {
    out.extend_from_slice(if yes { b"true" } else { b"false" });
}

/// Appends `text` as a JSON string, when the caller knows it holds nothing JSON
/// escapes: a GraphQL name (a response key: letters, digits, `_`), an id's hex, a
/// time in RFC 3339. Skips [`write_str`]'s check, which on a page of 50 customers
/// ran some 4,000 times for keys alone.
pub fn write_unescaped(out: &mut Vec<u8>, text: &str) {
    debug_assert!(!needs_escape(text.as_bytes()), "{text:?} needs escaping");
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if needs_escape(bytes) {
        write_escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// serde_json's escapes: the two-character ones where JSON has them, `\u00XX` (lower
/// case) for the other control characters. Everything else is copied, UTF-8 as it is.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut copied = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[copied..at]);
        copied = at + 1;
        if short == 0 {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(short);
        }
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// Whether any byte is one JSON escapes, eight bytes at a time: a byte below 0x20
/// leaves its top bit set in `word - 0x20…` where the byte's own top bit was clear,
/// and a quote or backslash is a zero byte of `word ^ 0x22…` or `word ^ 0x5c…`
/// (the bit tricks `hasless` and `haszero`, both exact as tests of existence).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let found = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if found != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{ErrorExtensionValues, Number, Pos, ServerError};

    use super::*;

    fn same_as_serde_json(response: &Response) {
        let mut ours = Vec::new();
        write_response(&mut ours, response).unwrap();
        let theirs = serde_json::to_vec(response).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }

    fn object(fields: Vec<(&str, Value)>) -> Value {
        Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (Name::new(k), v))
                .collect::<IndexMap<_, _>>(),
        )
    }

    #[test]
    fn every_kind_of_value_is_written_as_serde_json_writes_it() {
        let strings = [
            "",
            "plain",
            "quote \" inside",
            "back\\slash",
            "line\nbreak and tab\t",
            "\u{0}\u{1f} controls",
            "\u{7f} delete stays",
            "Zoë Ångström 東京 🎉",
            "a string longer than one vector of sixteen or thirty-two bytes, \"quoted\" late",
        ];
        let data = object(vec![
            ("null", Value::Null),
            ("yes", Value::Boolean(true)),
            ("no", Value::Boolean(false)),
            ("int", Value::Number(Number::from(-42))),
            ("big", Value::Number(Number::from(u64::MAX))),
            ("float", Value::Number(Number::from_f64(1.5e-7).unwrap())),
            ("kind", Value::Enum(Name::new("AT_LEAST"))),
            (
                "strings",
                Value::List(strings.iter().map(|s| Value::from(*s)).collect()),
            ),
            ("empty", Value::List(Vec::new())),
            ("nested", object(vec![("inner", object(vec![]))])),
        ]);
        same_as_serde_json(&Response::new(data.clone()));

        let mut response = Response::new(data);
        response
            .extensions
            .insert("consistencyToken".to_owned(), Value::from("0/1A2B"));
        let mut error = ServerError::new("not \"yours\"", Some(Pos { line: 2, column: 3 }));
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", "FORBIDDEN");
        error.extensions = Some(extensions);
        error.path = vec![async_graphql::PathSegment::Field("customer".to_owned())];
        response.errors.push(error);
        same_as_serde_json(&response);
        same_as_serde_json(&Response::default());
    }

    #[test]
    fn every_ascii_character_is_escaped_as_serde_json_escapes_it() {
        for c in (0..0x80u8).map(char::from) {
            for text in [c.to_string(), format!("ab{c}cd{c}{c}efghijk")] {
                let mut ours = Vec::new();
                write_str(&mut ours, &text);
                assert_eq!(ours, serde_json::to_vec(&text).unwrap(), "{c:?}");
            }
        }
    }

    #[test]
    fn a_written_value_is_copied_as_it_is() {
        let inner = b"{\"city\":\"K\\u00f6ln\",\"tags\":[1,null]}".to_vec();
        let data = object(vec![(
            "list",
            Value::List(vec![written(inner), Value::Null]),
        )]);
        let mut ours = Vec::new();
        write_response(&mut ours, &Response::new(data)).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            r#"{"data":{"list":[{"city":"K\u00f6ln","tags":[1,null]},null]}}"#
        );
    }

    #[test]
    fn the_check_finds_every_byte_json_escapes_and_no_other() {
        // Which bytes serde_json escapes, from serde_json itself.
        let escapes = |b: u8| {
            b < 0x80 && {
                let text = (b as char).to_string();
                serde_json::to_string(&text).unwrap() != format!("\"{text}\"")
            }
        };
        // Neighbours that need no escape but sit next to the ones that do (0x1f/0x20,
        // 0x21/0x22/0x23, 0x5b/0x5c/0x5d) and have the top bit set, so a borrow from
        // one byte into the next would show.
        let filler = [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 0xc3, 0x41];
        for len in [1, 7, 8, 9, 16, 23] {
            for at in 0..len {
                for b in 0..=u8::MAX {
                    let mut bytes: Vec<u8> = (0..len).map(|n| filler[n % filler.len()]).collect();
                    bytes[at] = b;
                    assert_eq!(
                        needs_escape(&bytes),
                        escapes(b),
                        "byte {b:#x} at {at} of {len}"
                    );
                }
            }
        }
    }
}
