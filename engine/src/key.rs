//! Node keys and artifact content hashes. A key names what produced an artifact (stage kind, code
//! fingerprint, canonical parameters, the content hashes of its inputs); a content hash names the
//! bytes the artifact holds. Both are blake3 and stable across processes, hosts and versions of
//! Rust (never `std::hash`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Bumped whenever the way keys are computed changes; old artifacts then stop matching.
pub const KEY_VERSION: u32 = 1;

macro_rules! hash_newtype {
    ($name:ident, $what:literal) => {
        #[doc = $what]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(pub [u8; 32]);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&blake3::Hash::from_bytes(self.0).to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
        impl From<blake3::Hash> for $name {
            fn from(h: blake3::Hash) -> Self {
                $name(*h.as_bytes())
            }
        }
        impl From<$name> for String {
            fn from(h: $name) -> String {
                h.to_string()
            }
        }
        impl FromStr for $name {
            type Err = blake3::HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                blake3::Hash::from_hex(s).map(Self::from)
            }
        }
        impl TryFrom<String> for $name {
            type Error = blake3::HexError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

hash_newtype!(Key, "The cache key of a node: what produced an artifact.");
hash_newtype!(ContentHash, "The hash of an artifact's bytes: its sorted (path, file hash) pairs.");

/// Feeds length-prefixed fields into a hasher, so that field boundaries cannot shift.
struct Fields(blake3::Hasher);

impl Fields {
    fn add(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }
}

/// The key of a node. `inputs` are (input name, content hash of that input's artifact); their
/// order does not matter.
pub fn node_key(
    kind: &str,
    fingerprint: &blake3::Hash,
    canonical_params: &str,
    inputs: &[(&str, ContentHash)],
) -> Key {
    let mut sorted: Vec<&(&str, ContentHash)> = inputs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut f = Fields(blake3::Hasher::new());
    f.add(b"pipeline node key")
        .add(&KEY_VERSION.to_le_bytes())
        .add(kind.as_bytes())
        .add(fingerprint.as_bytes())
        .add(canonical_params.as_bytes())
        .add(&(sorted.len() as u64).to_le_bytes());
    for (name, hash) in sorted {
        f.add(name.as_bytes()).add(&hash.0);
    }
    Key::from(f.0.finalize())
}

/// The content hash of an artifact from its (relative path with `/` separators, file hash) pairs.
pub fn content_hash<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a blake3::Hash)>,
) -> ContentHash {
    let mut files: Vec<(&str, &blake3::Hash)> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let mut f = Fields(blake3::Hasher::new());
    f.add(b"pipeline artifact content");
    for (path, hash) in files {
        f.add(path.as_bytes()).add(hash.as_bytes());
    }
    ContentHash::from(f.0.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_order_does_not_matter_but_names_do() {
        let fp = blake3::hash(b"code");
        let a = ContentHash::from(blake3::hash(b"a"));
        let b = ContentHash::from(blake3::hash(b"b"));
        let k1 = node_key("k", &fp, "{}", &[("x", a), ("y", b)]);
        let k2 = node_key("k", &fp, "{}", &[("y", b), ("x", a)]);
        let k3 = node_key("k", &fp, "{}", &[("x", b), ("y", a)]);
        assert_eq!(k1, k2);
        assert_ne!(k1, k3);
    }

    #[test]
    fn hex_round_trips() {
        let k = Key::from(blake3::hash(b"x"));
        assert_eq!(k.to_string().parse::<Key>().unwrap(), k);
    }
}
