//! `pipeline run --executor slurm` against a real single-node Slurm cluster (munge, slurmctld,
//! slurmd and, for `sacct`, slurmdbd + MariaDB; four fake GPUs), on the smoke profile.
//!
//! The cluster is the one `SLURM_CONF` names when it is set (`.ci/run` starts it with
//! `tests/slurm/cluster.sh up`); otherwise this binary installs the packages if they are missing
//! and starts its own cluster with that script, and stops it at the end. It has its own `main` (harness = false) so that one cluster serves every
//! scenario; the scenarios run one after the other and each reports like a libtest test.

mod common;
#[path = "s3/servers.rs"]
mod servers;

use common::*;
use pipeline_engine::SLURM_JOB_NAME_PREFIX;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The cluster the scenarios use, stopped on drop when this binary started it.
struct Cluster {
    conf: PathBuf,
    /// Base directory of a cluster this binary started (None: started by someone else).
    own: Option<PathBuf>,
}

impl Cluster {
    fn get() -> Cluster {
        if let Some(conf) = std::env::var_os("SLURM_CONF") {
            return Cluster { conf: conf.into(), own: None };
        }
        let base = std::env::temp_dir().join(format!("pipeline-slurm-test-{}", std::process::id()));
        // Debian's Slurm packages, unless present (needs root; a no-op when installed).
        let install = Command::new(repo_file("tests/slurm/cluster.sh"))
            .arg("install")
            .output()
            .expect("running tests/slurm/cluster.sh");
        assert!(install.status.success(), "cannot install Slurm's packages: {}", text(&install));
        let out = Command::new(repo_file("tests/slurm/cluster.sh"))
            .arg("up")
            .env("SLURM_TEST_BASE", &base)
            .env("SLURM_TEST_PORT", "16917")
            .output()
            .expect("running tests/slurm/cluster.sh");
        assert!(
            out.status.success(),
            "cannot start a Slurm cluster (tests/slurm/cluster.sh install, as root, installs \
             the packages): {}",
            text(&out)
        );
        let conf = base.join("etc/slurm.conf");
        // Every command the scenarios start (`pipeline status` too) talks to this cluster. Set
        // while this is the only thread.
        std::env::set_var("SLURM_CONF", &conf);
        Cluster { conf, own: Some(base) }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(base) = &self.own {
            let _ = Command::new(repo_file("tests/slurm/cluster.sh"))
                .arg("down")
                .env("SLURM_TEST_BASE", base)
                .env("SLURM_TEST_PORT", "16917")
                .output();
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// A project whose smoke profile has `slurm_block` (lines indented under `slurm:`) and whose
/// study text is then passed through `edit`.
fn slurm_project(slurm_block: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let p = project();
    let path = p.path().join("pipeline.yaml");
    let study = std::fs::read_to_string(&path).unwrap();
    let block: String = slurm_block.lines().map(|l| format!("      {l}\n")).collect();
    let study = study.replacen(
        "  smoke:\n",
        &format!("  smoke:\n    slurm:\n      poll_seconds: 0.3\n{block}"),
        1,
    );
    std::fs::write(&path, edit(study)).unwrap();
    p
}

/// Smoke pre-training long enough (seconds) to catch its tasks running.
fn slow_pretrain(study: String) -> String {
    let smoke = study.find("  smoke:\n").unwrap();
    let at = smoke + study[smoke..].find("      epochs: 1\n").unwrap();
    format!("{}      epochs: 60\n{}", &study[..at], &study[at + "      epochs: 1\n".len()..])
}

fn slurm_command(cluster: &Cluster, dir: &Path, args: &[&str]) -> Command {
    let mut c = command(dir, &[&["run", "--json", "--executor", "slurm"], args].concat());
    c.env("SLURM_CONF", &cluster.conf);
    c
}

/// `pipeline run --json --executor slurm --allow-local-store` with `args`, to the end.
fn srun(cluster: &Cluster, dir: &Path, args: &[&str]) -> Output {
    slurm_command(cluster, dir, &[&["--allow-local-store"], args].concat()).output().unwrap()
}

fn spawn_srun(cluster: &Cluster, dir: &Path, args: &[&str]) -> Child {
    slurm_command(cluster, dir, &[&["--allow-local-store"], args].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn slurm_cli(cluster: &Cluster, program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).env("SLURM_CONF", &cluster.conf).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The queue's lines `id|state|name` for the tasks started in project `dir`.
fn queue_of(cluster: &Cluster, dir: &Path) -> Vec<String> {
    let out = slurm_cli(cluster, "squeue", &["--me", "-r", "-h", "-t", "all", "-o", "%i|%T|%j|%Z"]);
    let suffix = format!("|{}", dir.display());
    out.lines().filter_map(|l| l.strip_suffix(&suffix)).map(str::to_string).collect()
}

/// Wait (up to two minutes) for a running task of project `dir` from an array whose job name
/// ends in `kind`, and return its Slurm id (`81_3`).
fn running_task(cluster: &Cluster, dir: &Path, kind: &str) -> String {
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        let line = queue_of(cluster, dir)
            .into_iter()
            .find(|l| l.contains("|RUNNING|") && l.ends_with(&format!("-{kind}")));
        if let Some(line) = line {
            return line.split('|').next().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {kind} task started running within two minutes");
}

/// Send SIGINT (Ctrl-C) to a child.
fn interrupt(child: &Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// The tasks of project `dir` that Slurm has not ended (pending, running, or still completing).
fn live_tasks(cluster: &Cluster, dir: &Path) -> Vec<String> {
    const FINAL: [&str; 9] = [
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
    ];
    queue_of(cluster, dir)
        .into_iter()
        .filter(|l| !FINAL.iter().any(|f| l.contains(&format!("|{f}|"))))
        .collect()
}

/// Every submission directory of the smoke profile in `dir`'s store.
fn submissions(dir: &Path) -> Vec<PathBuf> {
    let root = dir.join("artifacts/slurm/smoke");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The node ids of every task Slurm accepted from `dir`, in submission order. A submission
/// counts when its `job_id` is written (sbatch returned) or when Slurm lists its job name (an
/// sbatch still running when its driver was killed); a directory with neither is one a killed
/// driver prepared and never submitted.
fn submitted_nodes(cluster: &Cluster, dir: &Path) -> Vec<String> {
    let names: BTreeSet<String> = queue_of(cluster, dir)
        .iter()
        .filter_map(|l| l.split('|').nth(2).map(str::to_string))
        .collect();
    let mut nodes = Vec::new();
    for s in submissions(dir) {
        let name = format!("{SLURM_JOB_NAME_PREFIX}{}", s.file_name().unwrap().to_string_lossy());
        if !s.join("job_id").exists() && !names.contains(&name) {
            continue;
        }
        let jobs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s.join("jobs.json")).unwrap()).unwrap();
        for job in jobs.as_array().unwrap() {
            nodes.push(job["node"].as_str().unwrap().to_string());
        }
    }
    nodes
}

fn assert_no_node_twice(cluster: &Cluster, dir: &Path) {
    let nodes = submitted_nodes(cluster, dir);
    let unique: BTreeSet<&String> = nodes.iter().collect();
    assert_eq!(unique.len(), nodes.len(), "a node was submitted twice: {nodes:?}");
}

fn smoke_through_slurm_matches_a_local_run_byte_for_byte(cluster: &Cluster) {
    let on_slurm = slurm_project("", |s| s);
    let out = srun(cluster, on_slurm.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let by = outcomes(&out);
    assert_eq!(by.keys().collect::<Vec<_>>(), ["ran"], "{}", text(&out));
    let local = slurm_project("", |s| s);
    let out = run(local.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(reports(on_slurm.path()), reports(local.path()), "reports differ");
    // Every node went through Slurm exactly once, in arrays (far fewer than the nodes).
    let nodes = submitted_nodes(cluster, on_slurm.path());
    assert_eq!(nodes.len(), by["ran"].len());
    assert_no_node_twice(cluster, on_slurm.path());
    // How ready nodes batch into arrays depends on when each poll sees them finish; a third of
    // the nodes is well above what batching by kind gives.
    let arrays = submissions(on_slurm.path()).len();
    assert!(arrays < nodes.len() / 3, "{arrays} arrays for {} nodes", nodes.len());
    // What the cluster built is a cache hit here.
    let again = run(on_slurm.path(), &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(ran(&again).is_empty(), "a local run after Slurm ran {:?}", ran(&again));
}

/// With `--remote`, the driver pushes what the tasks built, and pulls what the remote holds
/// instead of submitting it: the tasks themselves never talk to the remote.
fn a_driver_with_a_remote_pushes_what_tasks_built_and_pulls_instead_of_submitting(
    cluster: &Cluster,
) {
    use servers::{Rclone, Tools, ACCESS_KEY, BUCKET, SECRET_KEY};
    let root = tempfile::tempdir().unwrap();
    let _server = Rclone::start(&Tools::get(), &root.path().join("s3"), 18434);
    let with_remote = |s: String| {
        format!(
            "{s}\nremote:\n  url: s3://{BUCKET}/slurm\n  endpoint: http://127.0.0.1:18434\n  \
             timeout_seconds: 5\n"
        )
    };
    let with_keys = |c: &mut Command| {
        c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY).env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    };
    let built = slurm_project("", with_remote);
    let mut c = slurm_command(cluster, built.path(), &["--allow-local-store", "--remote"]);
    with_keys(&mut c);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ran = outcomes(&out)["ran"].len();
    assert!(text(&out).contains(&format!("pushed {ran} artifact(s)")), "{}", text(&out));

    let fresh = slurm_project("", with_remote);
    let mut c = slurm_command(cluster, fresh.path(), &["--allow-local-store", "--remote"]);
    with_keys(&mut c);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(outcomes(&out).keys().collect::<Vec<_>>(), ["pulled"], "{}", text(&out));
    assert!(submissions(fresh.path()).is_empty(), "nothing is submitted");
    assert_eq!(reports(fresh.path()), reports(built.path()), "reports differ");
}

fn a_failing_node_is_recorded_with_its_log_and_the_reports_render_with_the_gap(cluster: &Cluster) {
    let p = slurm_project("", |s| {
        s.replacen(
            "      - { name: mnist, label: MNIST (procedural), procedural: { generator: mnist, train: 80, test: 40, native_size: 8, seed: 6 } }\n    pretrain:\n",
            "      - { name: mnist, label: MNIST (procedural), procedural: { generator: mnist, train: 80, test: 40, native_size: 8, seed: 6 } }\n      - { name: broken, label: Broken, local: { format: cifar, train: broken.bin, test: broken.bin, classes: 10 } }\n    pretrain:\n",
            1,
        )
        .replacen("datasets: [cifar10, mnist]", "datasets: [cifar10, mnist, broken]", 1)
    });
    std::fs::write(p.path().join("broken.bin"), b"not a CIFAR batch").unwrap();
    let out = srun(cluster, p.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let by = outcomes(&out);
    assert_eq!(by.get("failed"), Some(&vec!["prepare/broken".to_string()]), "{}", text(&out));
    assert!(by["blocked"].iter().all(|id| id.contains("/broken/")), "{:?}", by["blocked"]);
    let log =
        std::fs::read_to_string(p.path().join("artifacts/logs/smoke/prepare+broken.log")).unwrap();
    assert!(log.contains("error:"), "{log}");
    let table5 = std::fs::read_to_string(p.path().join(REPORTS).join("table5.md")).unwrap();
    assert!(table5.contains("CIFAR-10"), "{table5}");
    let status = pipeline(p.path(), &["status"]);
    let status = text(&status);
    assert!(status.contains("prepare/broken") && status.contains("prepare+broken.log"), "{status}");
}

fn a_cancelled_task_is_reported_as_cancelled_and_rebuilt_with_retries(cluster: &Cluster) {
    let p = slurm_project("", slow_pretrain);
    // Without retries: the node fails, named CANCELLED, with the task's log.
    let driver = spawn_srun(cluster, p.path(), &["pretrain/natural"]);
    let task = running_task(cluster, p.path(), "pretrain");
    slurm_cli(cluster, "scancel", &[&task]);
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(outcomes(&out).get("failed"), Some(&vec!["pretrain/natural".to_string()]));
    let status = text(&pipeline(p.path(), &["status", "pretrain/natural"]));
    assert!(status.contains("CANCELLED") && status.contains(&task), "{status}");
    assert!(status.contains(".log"), "{status}");
    // With one retry: cancelled again, resubmitted, built.
    let driver = spawn_srun(cluster, p.path(), &["--retries", "1", "pretrain/natural"]);
    let task = running_task(cluster, p.path(), "pretrain");
    slurm_cli(cluster, "scancel", &[&task]);
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ran(&out), ["pretrain/natural"], "{}", text(&out));
    assert!(text(&out).contains("ended CANCELLED; submitting it again"), "{}", text(&out));
}

fn a_driver_killed_mid_run_is_restarted_and_submits_no_node_twice(cluster: &Cluster) {
    let p = slurm_project("", slow_pretrain);
    let mut driver = spawn_srun(cluster, p.path(), &[]);
    running_task(cluster, p.path(), "pretrain");
    driver.kill().unwrap(); // SIGKILL: no chance to cancel anything
    driver.wait().unwrap();
    // Status sees the tasks in the queue, with their Slurm ids.
    let status = pipeline(p.path(), &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let pretrain = json["status"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "pretrain")
        .unwrap()
        .clone();
    let in_queue = pretrain["running"].as_u64().unwrap() + pretrain["queued"].as_u64().unwrap();
    assert!(in_queue > 0, "status shows no pretrain task in the queue: {pretrain}");
    let human = text(&pipeline(p.path(), &["status"]));
    assert!(human.contains("slurm task "), "{human}");

    let out = srun(cluster, p.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("adopting"), "{}", text(&out));
    assert_no_node_twice(cluster, p.path());
    assert_eq!(node_count(p.path()), submitted_nodes(cluster, p.path()).len());
}

/// The number in `text` right after `prefix`, as in "adopting 3 task(s)".
fn count_after(text: &str, prefix: &str) -> usize {
    text.split(prefix)
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"{prefix}<n>\" in: {text}"))
}

fn ctrl_c_cancels_what_the_driver_submitted_unless_detached(cluster: &Cluster) {
    // Four pretrain tasks: three train for 60 epochs, and the scratch source, which does not
    // train, may end before the interrupt or before the adopting run starts. So three of them
    // are always live, and the fourth is live or done.
    let p = slurm_project("", slow_pretrain);
    let driver = spawn_srun(cluster, p.path(), &["pretrain"]);
    running_task(cluster, p.path(), "pretrain");
    interrupt(&driver);
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(text(&out).contains(" task(s) in Slurm (jobs "), "{}", text(&out));
    let cancelled = count_after(&text(&out), "interrupted; cancelled ");
    assert!((3..=4).contains(&cancelled), "{}", text(&out));
    let end = Instant::now() + Duration::from_secs(30);
    while !live_tasks(cluster, p.path()).is_empty() {
        assert!(Instant::now() < end, "still queued: {:?}", live_tasks(cluster, p.path()));
        std::thread::sleep(Duration::from_millis(200));
    }

    let driver = spawn_srun(cluster, p.path(), &["--detach", "pretrain"]);
    running_task(cluster, p.path(), "pretrain");
    interrupt(&driver);
    let out = driver.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(text(&out).contains(" task(s) left in Slurm (jobs "), "{}", text(&out));
    let left = count_after(&text(&out), "interrupted; ");
    assert!((3..=4).contains(&left), "{}", text(&out));
    assert!(!live_tasks(cluster, p.path()).is_empty(), "--detach cancelled the tasks");
    let submitted = submitted_nodes(cluster, p.path()).len();
    let out = srun(cluster, p.path(), &["pretrain"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let adopted = count_after(&text(&out), "adopting ");
    assert!((3..=left).contains(&adopted), "{}", text(&out));
    assert_eq!(
        submitted_nodes(cluster, p.path()).len(),
        submitted,
        "the adopting run submitted again"
    );
}

fn a_throttle_of_two_never_runs_more_than_two_tasks(cluster: &Cluster) {
    let p = slurm_project("throttle: 2", |s| s);
    let out = srun(cluster, p.path(), &["reports/smoke/table3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut spans = Vec::new();
    for s in submissions(p.path()) {
        let script = std::fs::read_to_string(s.join("submit.sh")).unwrap();
        assert!(script.lines().any(|l| l.starts_with("#SBATCH --array=") && l.ends_with("%2")));
        for entry in std::fs::read_dir(&s).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(&path).unwrap();
                let at = |field: &str| -> u128 {
                    let rest = log.split(field).nth(1).expect(field);
                    rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
                };
                spans.push((at("started_at_ms="), at("finished_at_ms=")));
            }
        }
    }
    assert!(spans.len() >= 6, "{spans:?}");
    let most = spans
        .iter()
        .map(|&(start, _)| spans.iter().filter(|&&(s, e)| s <= start && start < e).count())
        .max()
        .unwrap();
    assert!(most <= 2, "{most} tasks ran at once: {spans:?}");
}

fn a_gpu_stage_asks_for_a_gpu_and_sees_its_device(cluster: &Cluster) {
    let p = slurm_project("resources:\n  finetune: { gpus: 1 }", |s| s);
    let cell = "finetune/natural/cifar10/n20/b1/s20000000";
    let out = srun(cluster, p.path(), &[cell]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut seen = BTreeMap::new();
    for s in submissions(p.path()) {
        let script = std::fs::read_to_string(s.join("submit.sh")).unwrap();
        let log = std::fs::read_to_string(s.join("0.log")).unwrap();
        let device = log.split("CUDA_VISIBLE_DEVICES=").nth(1).unwrap().lines().next().unwrap();
        let kind = s.file_name().unwrap().to_string_lossy().rsplit('-').next().unwrap().to_string();
        seen.insert(kind, (script.contains("#SBATCH --gres=gpu:1"), device.to_string()));
    }
    let (gres, device) = &seen["finetune"];
    assert!(gres, "{seen:?}");
    assert!(device.parse::<u32>().is_ok(), "finetune saw CUDA_VISIBLE_DEVICES={device}");
    let (gres, device) = &seen["prepare"];
    assert!(!gres && device == "(unset)", "{seen:?}");
}

fn a_resource_the_cluster_cannot_give_fails_with_sbatchs_message(cluster: &Cluster) {
    let p = slurm_project("resources:\n  pretrain: { cpus: 512 }", |s| s);
    let out = srun(cluster, p.path(), &["reports/smoke/table3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let by = outcomes(&out);
    assert_eq!(by["failed"].len(), 4, "{by:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = json["run"]["nodes"].as_array().unwrap().iter().find(|n| n["outcome"] == "failed");
    let error = failed.unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.contains("sbatch") && error.contains("not available"), "{error}");
}

fn without_sbatch_or_a_controller_or_a_shared_store_nothing_starts(cluster: &Cluster) {
    let p = slurm_project("", |s| s);
    let empty = tempfile::tempdir().unwrap();
    let out = slurm_command(cluster, p.path(), &["--allow-local-store"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "a cluster fault: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("cluster fault: --executor slurm: `sbatch` is not on PATH"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!p.path().join("artifacts").exists(), "the store was touched");

    // A controller that does not answer: the cluster's configuration with another port.
    let conf = std::fs::read_to_string(&cluster.conf).unwrap();
    let dead = empty.path().join("slurm.conf");
    let port = conf.lines().find(|l| l.starts_with("SlurmctldPort=")).unwrap();
    std::fs::write(&dead, conf.replace(port, "SlurmctldPort=1")).unwrap();
    let out = slurm_command(cluster, p.path(), &["--allow-local-store"])
        .env("SLURM_CONF", &dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "a cluster fault: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("controller does not answer") && err.contains("DOWN"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!p.path().join("artifacts").exists(), "the store was touched");

    // The store under /tmp: refused unless --allow-local-store (bad input).
    let out = slurm_command(cluster, p.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--allow-local-store"), "{}", text(&out));
    assert!(!p.path().join("artifacts").exists(), "the store was touched");
}

fn a_dry_run_prints_the_arrays_it_would_submit(cluster: &Cluster) {
    let p = slurm_project("resources:\n  finetune: { cpus: 2, mem: 1G, time: \"10:00\" }", |s| s);
    let out = slurm_command(cluster, p.path(), &["--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "work remains: {}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in ["#SBATCH --array=0-47", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=1G"] {
        assert!(printed.contains(line), "`{line}` missing:\n{printed}");
    }
    let nodes = node_count(p.path());
    assert!(printed.contains(&format!("{nodes} node(s) in ")), "{printed}");
    assert!(!p.path().join("artifacts").exists(), "a dry run wrote to the store");
}

fn main() {
    // Each scenario under its own name.
    macro_rules! scenarios {
        ($($f:ident),* $(,)?) => { &[$((stringify!($f), $f as fn(&Cluster))),*] };
    }
    let scenarios: &[Scenario<Cluster>] = scenarios![
        smoke_through_slurm_matches_a_local_run_byte_for_byte,
        a_driver_with_a_remote_pushes_what_tasks_built_and_pulls_instead_of_submitting,
        a_failing_node_is_recorded_with_its_log_and_the_reports_render_with_the_gap,
        a_cancelled_task_is_reported_as_cancelled_and_rebuilt_with_retries,
        a_driver_killed_mid_run_is_restarted_and_submits_no_node_twice,
        ctrl_c_cancels_what_the_driver_submitted_unless_detached,
        a_throttle_of_two_never_runs_more_than_two_tasks,
        a_gpu_stage_asks_for_a_gpu_and_sees_its_device,
        a_resource_the_cluster_cannot_give_fails_with_sbatchs_message,
        without_sbatch_or_a_controller_or_a_shared_store_nothing_starts,
        a_dry_run_prints_the_arrays_it_would_submit,
    ];
    run_scenarios("a real Slurm cluster", scenarios, Cluster::get);
}
