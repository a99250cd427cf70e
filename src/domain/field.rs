//! Request fields that keep going when a value is wrong, so one request reports every problem
//! at once, and that tolerate the text-only values of form and multipart encodings.
//!
//! `Field<T>` is what a typed request struct declares; its OpenAPI schema is `T`'s, so the
//! documented shape and the decoded shape are one type.

use std::borrow::Cow;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa::{PartialSchema, ToSchema};

/// One field of a request: absent, `null`, a value, or a value of the wrong shape (with why).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Missing,
    Null,
    Value(T),
    Invalid(String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match v {
            Value::Null => Field::Null,
            v => match serde_json::from_value::<T>(v) {
                Ok(t) => Field::Value(t),
                Err(e) => Field::Invalid(clean_serde_message(&e.to_string())),
            },
        })
    }
}

impl<T: ToSchema> PartialSchema for Field<T> {
    fn schema() -> RefOr<Schema> {
        T::schema()
    }
}

impl<T: ToSchema> ToSchema for Field<T> {
    fn name() -> Cow<'static, str> {
        T::name()
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas)
    }
}

impl<T> Field<T> {
    pub fn is_missing(&self) -> bool {
        matches!(self, Field::Missing)
    }

    /// The value, or `None` for missing/null; a wrong value adds `"<path> <why>"` to `errors`.
    pub fn take(self, path: &str, errors: &mut Vec<String>) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            Field::Missing | Field::Null => None,
            Field::Invalid(why) => {
                errors.push(format!("{path} {why}"));
                None
            }
        }
    }

    pub fn as_ref(&self) -> Field<&T> {
        match self {
            Field::Missing => Field::Missing,
            Field::Null => Field::Null,
            Field::Value(v) => Field::Value(v),
            Field::Invalid(s) => Field::Invalid(s.clone()),
        }
    }
}

/// serde's messages carry positions and Rust type names; keep the part a user can act on.
fn clean_serde_message(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if msg.contains("did not match any variant of untagged enum MediaInput") {
        return "must be a URL (text) or an object with a \"url\"".into();
    }
    msg.replace("invalid type: ", "has the wrong type: ")
        .replace("a sequence", "an array")
        .replace("a map", "an object")
        .replace("struct ", "")
        .replace("a string", "text")
}

/// A boolean: JSON `true`/`false`, or the text of form encodings (`"true"`, `"false"`, `"1"`, `"0"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Flag(b)),
            Value::String(s) if s == "true" || s == "1" => Ok(Flag(true)),
            Value::String(s) if s == "false" || s == "0" => Ok(Flag(false)),
            _ => Err(serde::de::Error::custom("must be true or false")),
        }
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        bool::schema()
    }
}
impl ToSchema for Flag {}

/// An integer: a JSON number, or its decimal text (form encodings have no numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.is_i64() => Ok(Int(n.as_i64().unwrap_or_default())),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(Int(s.trim().parse().unwrap_or_default())),
            _ => Err(serde::de::Error::custom("must be a whole number")),
        }
    }
}

impl PartialSchema for Int {
    fn schema() -> RefOr<Schema> {
        i64::schema()
    }
}
impl ToSchema for Int {}

/// Text: a JSON string, or a number/boolean as the text it stands for (SDKs sometimes send ids
/// as numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Text(s)),
            Value::Number(n) => Ok(Text(n.to_string())),
            Value::Bool(b) => Ok(Text(b.to_string())),
            _ => Err(serde::de::Error::custom("must be text")),
        }
    }
}

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        String::schema()
    }
}
impl ToSchema for Text {}

/// A list, also from the shapes form encodings produce: a JSON array, a single value, or an
/// object keyed by indexes (`a[0]=x&a[1]=y`).
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items: Vec<Value> = match Value::deserialize(d)? {
            Value::Array(a) => a,
            Value::Object(m) => {
                let mut entries: Vec<(usize, Value)> = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let i = k
                        .parse::<usize>()
                        .map_err(|_| serde::de::Error::custom("must be an array"))?;
                    entries.push((i, v));
                }
                entries.sort_by_key(|(i, _)| *i);
                entries.into_iter().map(|(_, v)| v).collect()
            }
            Value::Null => Vec::new(),
            v => vec![v],
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value(v)
                    .map_err(|e| serde::de::Error::custom(format!("item {i}: {}", clean_serde_message(&e.to_string()))))
            })
            .collect::<Result<Vec<T>, D::Error>>()
            .map(List)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct S {
        #[serde(default)]
        a: Field<Flag>,
        #[serde(default)]
        b: Field<Int>,
        #[serde(default)]
        c: Field<List<Text>>,
        #[serde(default)]
        d: Field<Text>,
    }

    #[test]
    fn keeps_going_past_bad_values() {
        let s: S =
            serde_json::from_value(serde_json::json!({"a": "yes", "b": "12", "c": {"1": "y", "0": "x"}, "d": null}))
                .unwrap();
        assert!(matches!(s.a, Field::Invalid(ref m) if m == "must be true or false"));
        assert_eq!(s.b, Field::Value(Int(12)));
        assert_eq!(s.c, Field::Value(List(vec![Text("x".into()), Text("y".into())])));
        assert_eq!(s.d, Field::Null);
        let s: S = serde_json::from_value(serde_json::json!({"c": "one", "b": 1.5})).unwrap();
        assert_eq!(s.c, Field::Value(List(vec![Text("one".into())])));
        assert!(matches!(s.b, Field::Invalid(_)));
        assert!(s.a.is_missing());
        let mut errors = Vec::new();
        assert_eq!(s.b.take("b", &mut errors), None);
        assert_eq!(errors, vec!["b must be a whole number".to_string()]);
    }
}
