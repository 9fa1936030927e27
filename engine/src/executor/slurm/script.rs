//! The `sbatch` script of one array: every option as an `#SBATCH` line (so that what is shown by
//! `--dry-run` is exactly what is submitted), then the worker command that builds task
//! `$SLURM_ARRAY_TASK_ID`'s job.

use super::queue::SLURM_JOB_NAME_PREFIX;
use super::settings::{Resources, SlurmSettings};
use std::fmt::Write;
use std::path::Path;

/// One array to submit.
pub struct ArraySpec<'a> {
    /// The submission's name (also its directory's).
    pub name: &'a str,
    pub kind: &'a str,
    pub tasks: usize,
    pub resources: &'a Resources,
    /// The submission's directory: `jobs.json` and the tasks' logs.
    pub dir: &'a Path,
}

pub fn script(
    spec: &ArraySpec,
    settings: &SlurmSettings,
    worker: &[String],
    workdir: &Path,
) -> String {
    let mut s = String::from("#!/bin/sh\n");
    let mut opt = |line: String| writeln!(s, "#SBATCH {line}").expect("write to String");
    opt(format!("--job-name={SLURM_JOB_NAME_PREFIX}{}", spec.name));
    let throttle = settings.throttle.map(|t| format!("%{t}")).unwrap_or_default();
    opt(format!("--array=0-{}{throttle}", spec.tasks - 1));
    opt(format!("--output={}/%a.log", spec.dir.display()));
    opt(format!("--chdir={}", workdir.display()));
    for (flag, value) in
        [("partition", &settings.partition), ("account", &settings.account), ("qos", &settings.qos)]
    {
        if let Some(value) = value {
            opt(format!("--{flag}={value}"));
        }
    }
    let r = spec.resources;
    if let Some(cpus) = r.cpus {
        opt(format!("--cpus-per-task={cpus}"));
    }
    if let Some(mem) = &r.mem {
        opt(format!("--mem={mem}"));
    }
    if let Some(time) = &r.time {
        opt(format!("--time={time}"));
    }
    if let Some(gpus) = r.gpus.filter(|&g| g > 0) {
        opt(format!("--gres=gpu:{gpus}"));
    }
    for arg in &settings.sbatch_args {
        opt(arg.clone());
    }
    writeln!(
        s,
        "# {} {} node(s): task i builds the i-th job of jobs.json and writes i.result.json.",
        spec.tasks, spec.kind
    )
    .expect("write to String");
    let mut command: Vec<String> = worker.iter().map(|a| quote(a)).collect();
    command.push("worker".into());
    command.push(quote(&spec.dir.join("jobs.json").display().to_string()));
    writeln!(s, "exec {}", command.join(" ")).expect("write to String");
    s
}

/// `arg` as one shell word.
fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-=:+,".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_becomes_an_sbatch_line() {
        let settings = SlurmSettings {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            qos: None,
            sbatch_args: vec!["--constraint=a100".into()],
            throttle: Some(8),
            ..Default::default()
        };
        let resources = Resources {
            cpus: Some(4),
            mem: Some("16G".into()),
            gpus: Some(1),
            time: Some("2:00:00".into()),
        };
        let spec = ArraySpec {
            name: "17-finetune",
            kind: "finetune",
            tasks: 250,
            resources: &resources,
            dir: Path::new("/shared/artifacts/slurm/mini/17-finetune"),
        };
        let worker =
            vec!["/opt/pipeline".to_string(), "--config".into(), "/p/my study.yaml".into()];
        let s = script(&spec, &settings, &worker, Path::new("/p"));
        for line in [
            "#SBATCH --job-name=pipeline:17-finetune",
            "#SBATCH --array=0-249%8",
            "#SBATCH --output=/shared/artifacts/slurm/mini/17-finetune/%a.log",
            "#SBATCH --chdir=/p",
            "#SBATCH --partition=gpu",
            "#SBATCH --account=lab",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=16G",
            "#SBATCH --time=2:00:00",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --constraint=a100",
            "exec /opt/pipeline --config '/p/my study.yaml' worker \
             /shared/artifacts/slurm/mini/17-finetune/jobs.json",
        ] {
            assert!(s.lines().any(|l| l == line), "missing `{line}` in\n{s}");
        }
        assert!(!s.contains("--qos"));
    }

    #[test]
    fn quoting_keeps_one_word() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
    }
}
