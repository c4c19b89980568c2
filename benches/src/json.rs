//! Just enough JSON handling to build corpora: minify text and take an object apart into its
//! members without reordering them (serde_json's `Value` would sort the keys).

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// `text` without insignificant whitespace; strings (escapes included) are kept as they are.
#[must_use]
pub fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The members of one JSON object, in their order, each value kept as raw text.
#[derive(Debug)]
pub struct Members(pub Vec<(String, Box<RawValue>)>);

impl Members {
    /// Parses an object.
    ///
    /// # Errors
    /// When `text` is not a JSON object.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The raw value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.get())
    }

    /// Replaces the raw value of `key` (which must exist).
    ///
    /// # Panics
    /// When `key` is absent or `value` is not valid JSON.
    pub fn set(&mut self, key: &str, value: String) {
        let slot = self
            .0
            .iter_mut()
            .find(|(name, _)| name == key)
            .unwrap_or_else(|| panic!("no key {key}"));
        slot.1 = RawValue::from_string(value).expect("valid JSON");
    }

    /// The object as compact text, members in their order.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).expect("a string serializes"));
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        out
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// The elements of a JSON array given as raw text.
///
/// # Panics
/// When `array` is not a JSON array.
#[must_use]
pub fn array_items(array: &str) -> Vec<Box<RawValue>> {
    serde_json::from_str(array).expect("a JSON array")
}
