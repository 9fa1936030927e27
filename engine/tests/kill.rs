//! A run killed with SIGKILL in the middle of a node: the next run cleans its leftovers, reuses
//! every node that had finished, and redoes only the interrupted one and its dependents.
//!
//! The killed run is this test binary re-executed on the `killed_child` test, which only acts
//! when `ENGINE_KILL_TEST_DIR` names the project directory.

mod common;

use common::*;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DIR_VAR: &str = "ENGINE_KILL_TEST_DIR";

/// The study with `train/b/s2` blocked while `<dir>/hold` exists (same key whether or not it does).
fn held_study(dir: &Path) -> Vec<pipeline_engine::Node> {
    let mut nodes = study();
    let hold = dir.join("hold").to_string_lossy().into_owned();
    set_param(&mut nodes, "train/b/s2", "wait_while_exists", json!(hold));
    nodes
}

#[test]
#[ignore = "the child half of run_killed_mid_node_resumes_and_redoes_only_that_node"]
fn killed_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else { return };
    let p = Project::at(Path::new(&dir));
    p.run(&held_study(p.root()), &[]);
}

#[test]
fn run_killed_mid_node_resumes_and_redoes_only_that_node() {
    let p = Project::new();
    std::fs::write(p.path("hold"), b"").unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["killed_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, p.root())
        .spawn()
        .unwrap();
    // Wait until everything independent of train/b/s2 is built and train/b/s2 is running.
    let done = ["train+a+s1.json", "train+a+s2.json", "train+b+s1.json"];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(done.iter().all(|f| p.path("artifacts/nodes").join(f).exists())
        && p.path("artifacts/logs/train+b+s2.log").exists())
    {
        assert!(Instant::now() < deadline, "the child run did not get to train/b/s2");
        assert!(child.try_wait().unwrap().is_none(), "the child run exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        std::fs::read_dir(p.path("artifacts/tmp")).unwrap().count(),
        1,
        "in-progress output"
    );

    std::fs::remove_file(p.path("hold")).unwrap();
    let s = p.run(&held_study(p.root()), &[]);
    assert_eq!(ran(&p.take_counts()), ["aggregate", "render/t1", "render/t2", "train/b/s2"]);
    assert_eq!((s.executed, s.cached, s.failed), (4, 7, 0));
    assert_eq!(std::fs::read_dir(p.path("artifacts/tmp")).unwrap().count(), 0);
}
