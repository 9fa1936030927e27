//! The threat model a source is trained and attacked under, as `pipeline.yaml` writes it: the
//! norm constraint and the radius. Plain values, so that the stages that train, attack and
//! report sources name them without reaching any network code.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Constraint {
    None,
    L2,
    Linf,
}

/// A radius written as a number (`3`, `0.5`) or a fraction (`4/255`); the label keeps the text
/// and is what is serialised, so parameters round-trip.
#[derive(Debug, Clone, PartialEq)]
pub struct Epsilon {
    pub value: f64,
    pub label: String,
}

impl Default for Epsilon {
    fn default() -> Self {
        Epsilon { value: 0.0, label: "0".into() }
    }
}

impl Serialize for Epsilon {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label)
    }
}

impl<'de> Deserialize<'de> for Epsilon {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let parse = |text: &str| -> Option<f64> {
            match text.split_once('/') {
                Some((n, d)) => Some(n.trim().parse::<f64>().ok()? / d.trim().parse::<f64>().ok()?),
                None => text.trim().parse().ok(),
            }
        };
        let (value, label) = match Raw::deserialize(d)? {
            Raw::Number(v) => (v, format!("{v}")),
            Raw::Text(t) => match parse(&t) {
                Some(v) => (v, t),
                None => {
                    return Err(serde::de::Error::custom(format!(
                        "epsilon `{t}` is neither a number nor a fraction like 4/255"
                    )))
                }
            },
        };
        if !(value.is_finite() && value >= 0.0) {
            return Err(serde::de::Error::custom("epsilon must be a finite number ≥ 0"));
        }
        Ok(Epsilon { value, label })
    }
}
