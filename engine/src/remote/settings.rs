//! The study file's top-level `remote:` block: where the shared artifact cache lives. It names
//! a place, never what is computed, so it is outside every profile and enters no key.
//! Credentials are never written here (see `credentials.rs`). Parsed from YAML, so every value
//! is checked while the study file is read, with its line and column.

use serde::{de, Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSettings {
    /// `s3://bucket` or `s3://bucket/prefix`: every object goes under the prefix.
    #[serde(deserialize_with = "s3_url")]
    pub url: String,
    /// The S3 server, for stores other than AWS (`http://127.0.0.1:8333`,
    /// `https://minio.example.org`) [default: `AWS_ENDPOINT_URL`, else AWS's own].
    #[serde(default, deserialize_with = "endpoint")]
    pub endpoint: Option<String>,
    /// [default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else us-east-1].
    #[serde(default)]
    pub region: Option<String>,
    /// The AWS profile whose credentials are used [default: `AWS_PROFILE`, else `default`;
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` in the environment win over both
    /// unless this is set].
    #[serde(default)]
    pub profile: Option<String>,
    /// Only ever read from the remote: `push` refuses and `run --remote` pulls without pushing.
    #[serde(default)]
    pub read_only: bool,
    /// Transfers at once.
    #[serde(default = "default_transfers", deserialize_with = "transfers")]
    pub transfers: usize,
    /// Seconds a request may take before it is retried (twice at most) and then given up: the
    /// longest a stalled remote can hold up a run, per request.
    #[serde(default = "default_timeout", deserialize_with = "timeout")]
    pub timeout_seconds: f64,
}

impl RemoteSettings {
    /// `(bucket, prefix)` of [`RemoteSettings::url`]; the prefix has no leading or trailing `/`.
    pub fn bucket_and_prefix(&self) -> (&str, &str) {
        let rest = self.url.strip_prefix("s3://").expect("checked when parsed");
        match rest.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
            None => (rest, ""),
        }
    }
}

fn default_transfers() -> usize {
    16
}
fn default_timeout() -> f64 {
    20.0
}

fn s3_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(de::Error::custom(format!("`{url}` is not an s3://bucket/prefix URL")));
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid {
        return Err(de::Error::custom(format!(
            "`{bucket}` is not an S3 bucket name (3 to 63 of a-z, 0-9, `-` and `.`)"
        )));
    }
    if rest.split('/').skip(1).any(|part| part == "." || part == "..") {
        return Err(de::Error::custom(format!("the prefix of `{url}` has a `.` or `..` part")));
    }
    Ok(url)
}

fn endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let endpoint = String::deserialize(d)?;
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(de::Error::custom(format!("`{endpoint}` is not an http:// or https:// URL")));
    }
    Ok(Some(endpoint.trim_end_matches('/').to_string()))
}

fn transfers<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        n @ 1..=256 => Ok(n),
        n => Err(de::Error::custom(format!("{n} transfers at once: give 1 to 256"))),
    }
}

fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match f64::deserialize(d)? {
        s if s.is_finite() && (0.1..=3600.0).contains(&s) => Ok(s),
        s => Err(de::Error::custom(format!("{s} seconds: give 0.1 to 3600"))),
    }
}

#[cfg(test)]
mod tests {
    use super::RemoteSettings;

    /// The engine has no YAML parser; JSON is the subset of YAML these tests need.
    fn parse(json: &str) -> Result<RemoteSettings, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_url_splits_into_bucket_and_prefix() {
        let s = parse(r#"{"url": "s3://lab-cache/pipeline/study/"}"#).unwrap();
        assert_eq!(s.bucket_and_prefix(), ("lab-cache", "pipeline/study"));
        let s = parse(r#"{"url": "s3://lab-cache"}"#).unwrap();
        assert_eq!(s.bucket_and_prefix(), ("lab-cache", ""));
        assert_eq!((s.transfers, s.timeout_seconds, s.read_only), (16, 20.0, false));
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for (yaml, says) in [
            (r#"{"url": "https://x/y"}"#, "not an s3://"),
            (r#"{"url": "s3://Lab_Cache/x"}"#, "not an S3 bucket name"),
            (r#"{"url": "s3://lab/../x"}"#, "`.` or `..`"),
            (r#"{"url": "s3://lab-cache", "endpoint": "127.0.0.1:9000"}"#, "not an http://"),
            (r#"{"url": "s3://lab-cache", "transfers": 0}"#, "give 1 to 256"),
            (r#"{"url": "s3://lab-cache", "timeout_seconds": 0}"#, "give 0.1 to 3600"),
            (r#"{"url": "s3://lab-cache", "secret": "x"}"#, "unknown field `secret`"),
        ] {
            let e = parse(yaml).unwrap_err();
            assert!(e.contains(says), "{yaml}: {e}");
        }
    }
}
