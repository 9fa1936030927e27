//! The run path end to end with fake stages: caching, invalidation, early cutoff, damage
//! detection, failure isolation, concurrency, interrupted runs, publishing and the lock file.

mod common;

use common::*;
use pipeline_engine::Force;
use pipeline_engine::{Dag, Key, LocalExecutor, Outcome, Store};
use serde_json::json;

#[test]
fn cold_run_builds_everything_and_publishes_reports() {
    let p = Project::new();
    let s = p.run(&study(), &[]);
    assert_eq!((s.executed, s.cached, s.failed, s.blocked), (11, 0, 0, 0));
    assert!(s.success());
    assert_eq!(p.take_counts().values().sum::<usize>(), 11);
    let t1 = String::from_utf8(p.read("reports/t1.md")).unwrap();
    assert!(t1.starts_with("render=\"t1\"\n[table] aggregate=0\n"), "{t1}");
    assert!(p.path("reports/pipeline.lock").is_file());
}

#[test]
fn warm_run_executes_nothing_and_changes_no_byte() {
    let p = Project::new();
    p.run(&study(), &[]);
    p.take_counts();
    let before =
        (p.read("reports/t1.md"), p.read("reports/t2.md"), p.read("reports/pipeline.lock"));
    let s = p.run(&study(), &[]);
    assert_eq!((s.executed, s.cached), (0, 11));
    assert!(p.take_counts().is_empty());
    assert!(s.published.is_empty(), "rewrote {:?}", s.published);
    let after = (p.read("reports/t1.md"), p.read("reports/t2.md"), p.read("reports/pipeline.lock"));
    assert_eq!(before, after);
}

#[test]
fn report_target_builds_only_its_closure() {
    let p = Project::new();
    let s = p.run(&study(), &["reports/t1"]);
    assert_eq!(s.executed, 10);
    assert!(!p.path("reports/t2.md").exists());
    let s = p.run(&study(), &["train/a/s1"]);
    assert_eq!((s.executed, s.cached), (0, 3));
}

#[test]
fn parameter_edit_reruns_exactly_the_affected_nodes() {
    let p = Project::new();
    let mut nodes = study();
    p.run(&nodes, &[]);
    p.take_counts();
    set_param(&mut nodes, "train/a/s1", "value", json!(7));
    let s = p.run(&nodes, &[]);
    assert_eq!(ran(&p.take_counts()), ["aggregate", "render/t1", "render/t2", "train/a/s1"]);
    assert_eq!((s.executed, s.cached), (4, 7));
}

#[test]
fn fingerprint_change_reruns_that_stage_and_its_dependents() {
    let p = Project::new();
    p.run(&study(), &[]);
    p.take_counts();
    let edited = registry(&p.counts, &[("prepare", "v2")]);
    let s = p.run_with(&study(), &edited, &[]);
    // The new prepare code writes the same bytes, so early cutoff stops the wave right there.
    assert_eq!(ran(&p.take_counts()), ["prepare/a", "prepare/b"]);
    assert_eq!(s.executed, 2);
    // Code that renders differently: render reruns, nothing upstream does.
    let edited = registry(&p.counts, &[("render", "v2")]);
    p.run_with(&study(), &edited, &[]);
    assert_eq!(ran(&p.take_counts()), ["render/t1", "render/t2"]);
    // The old registry's keys are still in the store.
    let s = p.run(&study(), &[]);
    assert_eq!(s.executed, 0);
}

#[test]
fn early_cutoff_identical_bytes_invalidate_nothing_downstream() {
    let p = Project::new();
    let mut nodes = study();
    p.run(&nodes, &[]);
    p.take_counts();
    set_param(&mut nodes, "fetch/a", "salt", json!(42)); // new key, same bytes
    let s = p.run(&nodes, &[]);
    assert_eq!(ran(&p.take_counts()), ["fetch/a"]);
    assert_eq!((s.executed, s.cached), (1, 10));
}

#[test]
fn damaged_artifact_is_detected_recomputed_and_warned_about() {
    let p = Project::new();
    let s = p.run(&study(), &[]);
    let key = key_of(&s, "prepare/a");
    let file = p.path(&format!("artifacts/objects/{key}/out.txt"));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    p.take_counts();
    let s = p.run(&study(), &[]);
    assert_eq!(ran(&p.take_counts()), ["prepare/a"]);
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0].contains("prepare/a") && s.warnings[0].contains(&key.to_string()),
        "{:?}",
        s.warnings
    );
    // Truncation too.
    std::fs::write(&file, b"").unwrap();
    let s = p.run(&study(), &[]);
    assert_eq!(ran(&p.take_counts()), ["prepare/a"]);
    assert_eq!(s.warnings.len(), 1);
}

#[test]
fn failures_are_isolated_recorded_and_block_only_dependents() {
    let p = Project::new();
    let mut nodes = study();
    set_param(&mut nodes, "train/a/s1", "fail", json!(true));
    set_param(&mut nodes, "train/b/s2", "panic", json!(true));
    let s = p.run(&nodes, &[]);
    assert_eq!((s.executed, s.failed, s.blocked), (6, 2, 3));
    assert!(!s.success());
    let counts = p.take_counts();
    assert!(counts.contains_key("train/a/s2") && counts.contains_key("train/b/s1"));
    let outcome = |id: &str| s.nodes.iter().find(|n| n.id == id).unwrap().outcome.clone();
    assert!(matches!(outcome("aggregate"), Outcome::Blocked { by } if by.starts_with("train/")));
    let Outcome::Failed { error, log } = outcome("train/b/s2") else { panic!("not failed") };
    assert!(error.contains("told to panic"), "{error}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("running train/b/s2") && log.contains("told to panic"), "{log}");
    let failures = std::fs::read_dir(p.path("artifacts/failures")).unwrap().count();
    assert_eq!(failures, 2);
    assert!(p.path("artifacts/logs/train+a+s1.log").is_file());
    // Nothing half-made stays behind.
    assert_eq!(std::fs::read_dir(p.path("artifacts/tmp")).unwrap().count(), 0);
}

#[test]
fn failed_optional_inputs_are_left_out_and_the_key_says_which() {
    let p = Project::new();
    let mut nodes = study();
    make_inputs_optional(&mut nodes, "aggregate");
    set_param(&mut nodes, "train/a/s1", "fail", json!(true));
    let s = p.run(&nodes, &[]);
    assert_eq!((s.executed, s.failed, s.blocked), (10, 1, 0));
    assert!(!s.success(), "a failed cell still fails the run");
    let t1 = String::from_utf8(p.read("reports/t1.md")).unwrap();
    assert!(!t1.contains("[train/a/s1]") && t1.contains("[train/a/s2]"), "{t1}");
    assert_eq!(t1.matches("[train/").count(), 3, "{t1}");
    let lock = String::from_utf8(p.read("reports/pipeline.lock")).unwrap();
    assert!(!lock.contains("train/a/s1") && lock.contains("node train/b/s2 "), "{lock}");
    let with_gap = key_of(&s, "aggregate");

    // Mended: the cell is built, and the aggregate re-runs with it under a new key.
    set_param(&mut nodes, "train/a/s1", "fail", json!(false));
    p.take_counts();
    let s = p.run(&nodes, &[]);
    assert!(s.success());
    assert_eq!(ran(&p.take_counts()), ["aggregate", "render/t1", "render/t2", "train/a/s1"]);
    assert_ne!(key_of(&s, "aggregate"), with_gap);
    assert!(String::from_utf8(p.read("reports/t1.md")).unwrap().contains("[train/a/s1]"));

    // Failing again: the aggregate of the other three cells is found under its old key.
    set_param(&mut nodes, "train/a/s1", "fail", json!(true));
    let s = p.run(&nodes, &[]);
    assert_eq!(ran(&p.take_counts()), ["train/a/s1"]);
    assert_eq!(key_of(&s, "aggregate"), with_gap);
    assert_eq!(String::from_utf8(p.read("reports/t1.md")).unwrap(), t1);
}

#[test]
fn a_failure_upstream_of_an_optional_input_leaves_out_everything_it_blocks() {
    let p = Project::new();
    let mut nodes = study();
    make_inputs_optional(&mut nodes, "aggregate");
    set_param(&mut nodes, "fetch/b", "fail", json!(true));
    let s = p.run(&nodes, &[]);
    // prepare/b and train/b/s{1,2} are blocked; the aggregate runs on train/a/*.
    assert_eq!((s.executed, s.failed, s.blocked), (7, 1, 3));
    let t1 = String::from_utf8(p.read("reports/t1.md")).unwrap();
    assert_eq!(t1.matches("[train/a/").count(), 2, "{t1}");
    assert!(!t1.contains("[train/b/"), "{t1}");
    // Required inputs still block: the renders read the aggregate as a required input.
    let mut nodes = study();
    set_param(&mut nodes, "fetch/b", "fail", json!(true));
    let s = Project::new().run(&nodes, &[]);
    assert_eq!((s.failed, s.blocked), (1, 6));
}

#[test]
fn fail_fast_starts_nothing_after_the_first_failure() {
    let p = Project::new();
    let mut nodes = study();
    set_param(&mut nodes, "fetch/a", "fail", json!(true));
    let reg = p.registry();
    let dag = Dag::new(nodes, &reg).unwrap();
    let mut opts = p.options(&dag, &[]);
    opts.fail_fast = true;
    opts.executor = Box::new(LocalExecutor { jobs: 1 });
    let s = pipeline_engine::run(&dag, &reg, &p.store(), &opts).unwrap();
    assert_eq!(s.failed, 1);
    assert!(s.not_started > 0, "{s:?}");
    assert_eq!(s.executed + s.failed + s.blocked + s.not_started, 11);
    assert_eq!(s.executed, p.take_counts().len() - 1);
}

#[test]
fn force_recomputes_only_the_targets() {
    let p = Project::new();
    p.run(&study(), &[]);
    p.take_counts();
    let reg = p.registry();
    let dag = Dag::new(study(), &reg).unwrap();
    let mut opts = p.options(&dag, &["prepare"]);
    opts.force = Force::Targets;
    let s = pipeline_engine::run(&dag, &reg, &p.store(), &opts).unwrap();
    assert_eq!(ran(&p.take_counts()), ["prepare/a", "prepare/b"]);
    assert_eq!((s.executed, s.cached), (2, 2));
}

#[test]
fn force_with_inputs_recomputes_the_whole_closure_and_early_cutoff_keeps_the_rest() {
    let p = Project::new();
    p.run(&study(), &[]);
    p.take_counts();
    let lock = p.read("reports/pipeline.lock");
    let reg = p.registry();
    let dag = Dag::new(study(), &reg).unwrap();
    let mut opts = p.options(&dag, &["train/a/s1"]);
    opts.force = Force::Closure;
    let s = pipeline_engine::run(&dag, &reg, &p.store(), &opts).unwrap();
    assert_eq!(ran(&p.take_counts()), ["fetch/a", "prepare/a", "train/a/s1"]);
    assert_eq!((s.executed, s.cached), (3, 0));
    // Same bytes out (the measurements differ, but they are not hashed): nothing downstream
    // is invalidated, and a full run afterwards executes nothing.
    let s = p.run(&study(), &[]);
    assert_eq!((s.executed, p.take_counts().len()), (0, 0));
    assert_eq!(p.read("reports/pipeline.lock"), lock);
}

#[test]
fn measurements_are_kept_in_the_metadata_and_readable_downstream() {
    let p = Project::new();
    let s = p.run(&study(), &["train/a/s1"]);
    let key = |id: &str| s.nodes.iter().find(|n| n.id == id).unwrap().key.unwrap();
    let meta = |id: &str| {
        pipeline_engine::read_meta(&p.store().object_dir(&key(id))).unwrap().measurements
    };
    let (prepare, train) = (meta("prepare/a"), meta("train/a/s1"));
    assert!(prepare.contains_key("started_ns"), "{prepare:?}");
    assert_eq!(train["first_input_started_ns"], prepare["started_ns"]);
}

#[test]
fn concurrent_runs_on_one_store_execute_each_node_once() {
    let p = Project::new();
    let mut nodes = study();
    for n in &mut nodes {
        n.params["sleep_ms"] = json!(30);
    }
    let reg = p.registry();
    let dag = Dag::new(nodes, &reg).unwrap();
    let summaries: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    pipeline_engine::run(&dag, &reg, &p.store(), &p.options(&dag, &[])).unwrap()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let counts = p.take_counts();
    assert_eq!(counts.len(), 11);
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
    assert_eq!(summaries.iter().map(|s| s.executed).sum::<usize>(), 11);
    assert!(summaries.iter().all(|s| s.success()));
}

#[test]
fn interrupted_run_leftovers_are_cleaned_and_never_read() {
    let p = Project::new();
    let s = p.run(&study(), &[]);
    let store = Store::open(p.path("artifacts")).unwrap();
    // A crash mid-commit of a key that is no longer wanted, and one mid-build of a wanted key.
    let orphan = Key::from(blake3::hash(b"orphan"));
    std::fs::create_dir_all(p.path(&format!("artifacts/tmp/{orphan}.999999.0/sub"))).unwrap();
    let key = key_of(&s, "render/t2");
    std::fs::create_dir_all(p.path(&format!("artifacts/tmp/{key}.999999.1"))).unwrap();
    // An object directory without metadata (cannot come from the engine, but must not be trusted).
    std::fs::remove_file(store.object_dir(&key).join(".meta.json")).unwrap();
    p.take_counts();
    let s = p.run(&study(), &[]);
    assert_eq!(ran(&p.take_counts()), ["render/t2"]);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(std::fs::read_dir(p.path("artifacts/tmp")).unwrap().count(), 0);
}

#[test]
fn lock_file_is_sorted_deterministic_and_partial_runs_keep_other_reports() {
    let p = Project::new();
    let mut nodes = study();
    p.run(&nodes, &[]);
    let lock = String::from_utf8(p.read("reports/pipeline.lock")).unwrap();
    let lines: Vec<&str> = lock.lines().skip(2).collect();
    assert!(lock.starts_with("# pipeline.lock"));
    assert_eq!(lock.lines().nth(1), Some("profile test"));
    assert_eq!(lines.iter().filter(|l| l.starts_with("report ")).count(), 2);
    assert_eq!(lines.iter().filter(|l| l.starts_with("node ")).count(), 11);
    // Report lines first, then node lines, each section sorted.
    for section in ["report ", "node "] {
        let part: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with(section)).collect();
        assert!(part.windows(2).all(|w| w[0] < w[1]), "{part:?}");
    }
    assert!(lines[..2].iter().all(|l| l.starts_with("report ")));

    // A fresh store built from scratch writes the same bytes.
    let q = Project::new();
    q.run(&nodes, &[]);
    assert_eq!(q.read("reports/pipeline.lock"), lock.as_bytes());

    // Rebuilding only t1 after an edit keeps t2's entry (and the nodes it was built from).
    set_param(&mut nodes, "train/a/s1", "value", json!(9));
    p.run(&nodes, &["reports/t1"]);
    let after = String::from_utf8(p.read("reports/pipeline.lock")).unwrap();
    let t2 = |text: &str| {
        text.lines().find(|l| l.starts_with("report reports/t2.md")).unwrap().to_string()
    };
    assert_eq!(t2(&lock), t2(&after));
    assert_ne!(lock, after);
    assert_eq!(after.lines().filter(|l| l.starts_with("node train/a/s1 ")).count(), 2);
}

#[test]
fn a_key_rebuilt_with_other_bytes_keeps_one_lock_line() {
    // A lock written where `aggregate` held other bytes under the same key (another build),
    // then a fresh store that builds only t1: t2 keeps its entry, `aggregate` gets one line.
    let p = Project::new();
    let nodes = study();
    p.run(&nodes, &[]);
    let lock = String::from_utf8(p.read("reports/pipeline.lock")).unwrap();
    let line = lock.lines().find(|l| l.starts_with("node aggregate ")).unwrap().to_string();
    let fields: Vec<&str> = line.split(' ').collect();
    let other = line.replace(fields[3], &"0".repeat(fields[3].len()));
    std::fs::write(p.path("reports/pipeline.lock"), lock.replace(&line, &other)).unwrap();
    std::fs::remove_dir_all(p.path("artifacts")).unwrap();
    p.run(&nodes, &["reports/t1"]);
    let after = String::from_utf8(p.read("reports/pipeline.lock")).unwrap();
    let lines: Vec<&str> = after.lines().filter(|l| l.starts_with("node aggregate ")).collect();
    assert_eq!(lines, vec![line.as_str()], "{after}");
    assert_eq!(after, lock, "the lock a full build writes");
}

fn key_of(s: &pipeline_engine::RunSummary, id: &str) -> Key {
    s.nodes.iter().find(|n| n.id == id).unwrap().key.unwrap()
}
