//! The `slurm:` block of a profile: where and with what resources the tasks run. Parsed from
//! YAML, so every value is checked while the study file is read (with its line and column).

use serde::{de, Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`.
    #[serde(default)]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default)]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default)]
    pub qos: Option<String>,
    /// More `sbatch` options, each one argument (`--constraint=a100`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Resources of every task, unless `resources` names its stage kind.
    #[serde(default)]
    pub default_resources: Resources,
    /// Resources per stage kind, field by field over `default_resources`.
    #[serde(default)]
    pub resources: BTreeMap<String, Resources>,
    /// The most tasks of this run queued or running at once (also each array's `%N`).
    #[serde(default, deserialize_with = "positive_opt")]
    pub throttle: Option<u32>,
    /// The largest array submitted (the cluster's `MaxArraySize` less one, often 1000).
    #[serde(default = "default_max_array", deserialize_with = "positive")]
    pub max_array: u32,
    /// Seconds between two looks at the queue.
    #[serde(default = "default_poll", deserialize_with = "poll_seconds")]
    pub poll_seconds: f64,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            account: None,
            qos: None,
            sbatch_args: Vec::new(),
            default_resources: Resources::default(),
            resources: BTreeMap::new(),
            throttle: None,
            max_array: default_max_array(),
            poll_seconds: default_poll(),
        }
    }
}

fn default_max_array() -> u32 {
    1000
}
fn default_poll() -> f64 {
    5.0
}

/// What one task asks for. Absent fields are left to the cluster's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `--cpus-per-task`; the task's stage uses exactly these.
    #[serde(default, deserialize_with = "positive_opt")]
    pub cpus: Option<u32>,
    /// `--mem`, e.g. `16G`.
    #[serde(default, deserialize_with = "memory")]
    pub mem: Option<String>,
    /// `--gres=gpu:N`; the task sees its GPUs through `CUDA_VISIBLE_DEVICES`.
    #[serde(default)]
    pub gpus: Option<u32>,
    /// `--time`, e.g. `2:00:00` or `1-12:00:00`.
    #[serde(default, deserialize_with = "walltime")]
    pub time: Option<String>,
}

impl SlurmSettings {
    /// The resources of a task of stage `kind`.
    pub fn resources_of(&self, kind: &str) -> Resources {
        let base = &self.default_resources;
        match self.resources.get(kind) {
            None => base.clone(),
            Some(r) => Resources {
                cpus: r.cpus.or(base.cpus),
                mem: r.mem.clone().or_else(|| base.mem.clone()),
                gpus: r.gpus.or(base.gpus),
                time: r.time.clone().or_else(|| base.time.clone()),
            },
        }
    }
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        0 => Err(de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

fn positive_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    positive(d).map(Some)
}

fn poll_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match f64::deserialize(d)? {
        s if (0.1..=600.0).contains(&s) => Ok(s),
        s => Err(de::Error::custom(format!("poll_seconds must be between 0.1 and 600, not {s}"))),
    }
}

fn memory<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && s.len() - digits.len() <= 1;
    if !ok {
        return Err(de::Error::custom(format!(
            "memory `{s}` is not a number with an optional unit K, M, G or T (e.g. 16G)"
        )));
    }
    Ok(Some(s))
}

/// Slurm's `--time` forms: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn walltime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match s.split_once('-') {
        Some((days, rest)) => (Some(days), rest),
        None => (None, s.as_str()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let ok = days.is_none_or(number)
        && parts.iter().all(|p| number(p))
        && (1..=3).contains(&parts.len());
    if !ok {
        return Err(de::Error::custom(format!(
            "time `{s}` is not a Slurm time limit (minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S)"
        )));
    }
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON here (the engine has no YAML parser); the study file reads the same serde types.
    fn parse(json: &str) -> Result<SlurmSettings, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn resources_merge_field_by_field_over_the_default() {
        let s = parse(
            r#"{"default_resources": {"cpus": 2, "mem": "4G", "time": "1:00:00"},
                "resources": {"finetune": {"gpus": 1, "mem": "16G"}}}"#,
        )
        .unwrap();
        let f = s.resources_of("finetune");
        assert_eq!(
            (f.cpus, f.mem.as_deref(), f.gpus, f.time.as_deref()),
            (Some(2), Some("16G"), Some(1), Some("1:00:00"))
        );
        assert_eq!(s.resources_of("render"), s.default_resources);
        assert_eq!((s.max_array, s.poll_seconds), (1000, 5.0));
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for (input, needle) in [
            (r#"{"throttle": 0}"#, "at least 1"),
            (r#"{"default_resources": {"mem": "16GB"}}"#, "memory `16GB`"),
            (r#"{"default_resources": {"mem": "G"}}"#, "memory `G`"),
            (r#"{"default_resources": {"time": "2h"}}"#, "time `2h`"),
            (r#"{"default_resources": {"time": "1:2:3:4"}}"#, "time `1:2:3:4`"),
            (r#"{"default_resources": {"cpu": 2}}"#, "unknown field `cpu`"),
            (r#"{"poll_seconds": 0}"#, "between 0.1 and 600"),
            (r#"{"partiton": "gpu"}"#, "unknown field `partiton`"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
        }
        for time in ["30", "30:00", "2:00:00", "1-12", "1-12:30", "1-12:30:00"] {
            let input = format!(r#"{{"default_resources": {{"time": "{time}"}}}}"#);
            assert!(parse(&input).is_ok(), "{time}");
        }
    }
}
