//! Canonical text of node parameters, the form that is hashed into keys: object keys sorted,
//! floats in shortest round-trip form (`0.1`, `1e-7`), integral floats kept as floats (`1.0`),
//! `-0.0` written as `0.0`, NaN and infinities rejected. Two parameter values that mean the same
//! number give the same text however they were spelled in `pipeline.yaml`.

use anyhow::{bail, Result};
use serde_json::Value;
use std::fmt::Write;

/// The canonical JSON text of `value`. Errors name the dotted path of a non-finite number.
pub fn canonical_json(value: &Value) -> Result<String> {
    let mut out = String::new();
    let mut path = Vec::new();
    write_value(value, &mut path, &mut out)?;
    Ok(out)
}

/// One step from the root to a value, kept only to name the place of an error.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `train.augment.pad`, `lr_decay[1]`.
fn dotted(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(k) if text.is_empty() => text.push_str(k),
            Step::Key(k) => write!(text, ".{k}").expect("writing to a String cannot fail"),
            Step::Index(i) => write!(text, "[{i}]").expect("writing to a String cannot fail"),
        }
    }
    text
}

fn write_value<'a>(value: &'a Value, path: &mut Vec<Step<'a>>, out: &mut String) -> Result<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, path, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                path.push(Step::Index(i));
                write_value(item, path, out)?;
                path.pop();
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                path.push(Step::Key(k));
                write_value(v, path, out)?;
                path.pop();
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_number(n: &serde_json::Number, path: &[Step], out: &mut String) -> Result<()> {
    if let Some(i) = n.as_i64() {
        write!(out, "{i}").expect("writing to a String cannot fail");
    } else if let Some(u) = n.as_u64() {
        write!(out, "{u}").expect("writing to a String cannot fail");
    } else {
        let f = n.as_f64().filter(|f| f.is_finite());
        let Some(f) = f else {
            bail!(
                "parameter `{}` is not a finite number ({n}); NaN and infinities cannot be hashed",
                dotted(path)
            )
        };
        // serde_json prints floats with ryu: shortest round-trip text, `1.0` for integral values.
        let f = if f == 0.0 { 0.0 } else { f };
        out.push_str(&serde_json::to_string(&f)?);
    }
    Ok(())
}

/// A JSON string literal, escaped exactly as serde_json escapes it.
fn write_string(s: &str, out: &mut String) {
    // serde_json escapes only `"`, `\` and control characters: without them the text is as is.
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::to_string(s).expect("a string always serialises"));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// A short human rendering of a value for status reasons (`0.05`, `"cifar10"`).
pub fn display_value(value: &Value) -> String {
    canonical_json(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_normalises_floats() {
        let v = json!({"b": 1.0, "a": {"z": -0.0, "y": [0.1, 1e-7, 3]}});
        assert_eq!(canonical_json(&v).unwrap(), r#"{"a":{"y":[0.1,1e-7,3],"z":0.0},"b":1.0}"#);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in
            ["plain", "é ü ✓", "quote \" here", "back\\slash", "tab\tnew\nline", "\u{1}", "\u{7f}"]
        {
            let mut out = String::new();
            write_string(s, &mut out);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn integers_and_integral_floats_differ() {
        assert_ne!(canonical_json(&json!(1)).unwrap(), canonical_json(&json!(1.0)).unwrap());
    }
}
