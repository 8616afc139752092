//! A GraphQL response's body, written as serde_json would write it, but faster.
//!
//! serde_json escapes a string by looking every byte up in a table and branching on
//! it. A page of 50 customers is a 48 KB body, nearly all of it strings, and that
//! loop was 9 % of the server's instructions for it (callgrind). Here each string is
//! first checked for a byte JSON must escape (a quote, a backslash, a control
//! character: the same set as serde_json's) eight bytes at a time; a string
//! without one (nearly every string) is copied as it is, and the others are escaped
//! by serde_json. Numbers, extensions and errors are serde_json's too. The bytes are
//! the same as `serde_json::to_writer`'s (a test holds them to it).

use async_graphql::{Name, Response, Value};

/// Appends `response` as JSON: `data`, then `extensions` and `errors` when present.
pub fn write_response(out: &mut Vec<u8>, response: &Response) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"data\":");
    write_value(out, &response.data)?;
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

fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(text) => write_str(out, text)?,
        Value::Enum(name) => write_name(out, name)?,
        Value::List(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (n, (key, field)) in fields.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_name(out, key)?;
                out.push(b':');
                write_value(out, field)?;
            }
            out.push(b'}');
        }
        // Numbers (serde_json's own type) and bytes, which no field here returns.
        Value::Number(_) | Value::Binary(_) => serde_json::to_writer(&mut *out, value)?,
    }
    Ok(())
}

fn write_name(out: &mut Vec<u8>, name: &Name) -> serde_json::Result<()> {
    write_str(out, name.as_str())
}

fn write_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    if needs_escape(text.as_bytes()) {
        return serde_json::to_writer(&mut *out, text);
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
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
            ("bytes", Value::Binary(vec![0, 255].into())),
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
