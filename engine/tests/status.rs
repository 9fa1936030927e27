//! `status`, `--dry-run` and DAG validation with fake stages.

mod common;

use common::*;
use pipeline_engine::{plan, status, Dag, Force, State, StatusReport};
use serde_json::json;

fn status_of(p: &Project, nodes: &[pipeline_engine::Node], targets: &[&str]) -> StatusReport {
    let reg = p.registry();
    let dag = Dag::new(nodes.to_vec(), &reg).unwrap();
    let targets: Vec<(String, Vec<usize>)> = targets
        .iter()
        .map(|t| (t.to_string(), dag.resolve_targets(&[t.to_string()]).unwrap()))
        .collect();
    status(&dag, &reg, &p.store(), &targets, &Default::default(), None).unwrap()
}

fn reasons(report: &StatusReport, id: &str) -> Vec<String> {
    let s = report.targets.iter().flat_map(|t| &t.out_of_date).find(|s| s.id == id);
    s.map(|s| s.reasons.clone()).unwrap_or_default()
}

#[test]
fn status_before_any_run_says_never_built_and_touches_nothing() {
    let p = Project::new();
    let report = status_of(&p, &study(), &["reports/t1"]);
    assert!(!report.up_to_date);
    assert_eq!(reasons(&report, "fetch/a"), ["never built"]);
    assert_eq!(reasons(&report, "prepare/a"), ["upstream fetch/a not built"]);
    let train = report.kinds.iter().find(|k| k.kind == "train").unwrap();
    assert_eq!((train.missing, train.up_to_date), (4, 0));
    assert!(!p.path("artifacts").exists());
}

#[test]
fn status_after_a_run_is_up_to_date() {
    let p = Project::new();
    p.run(&study(), &[]);
    let report = status_of(&p, &study(), &["reports/t1", "reports/t2"]);
    assert!(report.up_to_date, "{report}");
    assert_eq!(report.kinds.iter().map(|k| k.up_to_date).sum::<usize>(), 11);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["up_to_date"], json!(true));
}

#[test]
fn status_names_what_changed() {
    let p = Project::new();
    let mut nodes = study();
    p.run(&nodes, &[]);
    set_param(&mut nodes, "train/a/s1", "lr", json!(0.05));
    set_param(&mut nodes, "fetch/b", "salt", json!(1));
    let report = status_of(&p, &nodes, &["reports/t1"]);
    assert_eq!(reasons(&report, "train/a/s1"), ["parameter lr: 0.1 → 0.05"]);
    assert_eq!(reasons(&report, "fetch/b"), ["parameter salt added: 1"]);
    let prepare_b = reasons(&report, "prepare/b");
    assert_eq!(prepare_b, ["waiting on upstream fetch/b (stale)"]);
    let agg = report.targets[0].out_of_date.iter().find(|s| s.id == "aggregate").unwrap();
    assert_eq!(agg.state, State::Stale);

    let p2 = Project::new();
    p2.run(&study(), &[]);
    let reg = registry(&p2.counts, &[("render", "v2")]);
    let dag = Dag::new(study(), &reg).unwrap();
    let targets = vec![("all".to_string(), dag.resolve_targets(&[]).unwrap())];
    let report = status(&dag, &reg, &p2.store(), &targets, &Default::default(), None).unwrap();
    assert_eq!(reasons(&report, "render/t1"), ["code of stage render changed"]);
    assert_eq!(report.targets[0].out_of_date.len(), 2);
}

#[test]
fn status_names_the_files_of_a_stage_whose_code_changed() {
    let p = Project::new();
    let before = registry(&p.counts, &[("render", "a.rs=1;b.rs=2;c.rs=3")]);
    p.run_with(&study(), &before, &[]);
    let status_with = |code: &str| {
        let reg = registry(&p.counts, &[("render", code)]);
        let dag = Dag::new(study(), &reg).unwrap();
        let targets = vec![("all".to_string(), dag.resolve_targets(&[]).unwrap())];
        status(&dag, &reg, &p.store(), &targets, &Default::default(), None).unwrap()
    };
    let report = status_with("a.rs=1;b.rs=2 ;d.rs=4");
    let why = ["code of stage render changed: b.rs, c.rs (gone), d.rs (new)"];
    assert_eq!(reasons(&report, "render/t1"), why);
    assert_eq!(reasons(&report, "train/a/s1"), Vec::<String>::new(), "other kinds untouched");
    // The same parts under another build: the fingerprint moved, no file did.
    let report = status_with("a.rs=1;b.rs=2;c.rs=3;");
    assert_eq!(reasons(&report, "render/t1"), ["code of stage render changed"]);
}

#[test]
fn status_lists_failures_with_their_logs() {
    let p = Project::new();
    let mut nodes = study();
    set_param(&mut nodes, "fetch/a", "fail", json!(true));
    p.run(&nodes, &[]);
    let report = status_of(&p, &nodes, &["reports/t1"]);
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!(failure.id, "fetch/a");
    assert!(failure.log.as_ref().unwrap().is_file());
    assert!(failure.reasons[0].contains("told to fail"), "{:?}", failure.reasons);
    assert!(report.to_string().contains("failed nodes:"));
}

#[test]
fn dry_run_lists_what_would_run_and_touches_nothing() {
    let p = Project::new();
    let reg = p.registry();
    let dag = Dag::new(study(), &reg).unwrap();
    let plan_cold =
        plan(&dag, &reg, &p.store(), &dag.resolve_targets(&[]).unwrap(), Force::Nothing).unwrap();
    assert_eq!((plan_cold.would_run.len(), plan_cold.up_to_date), (11, 0));
    assert!(!p.path("artifacts").exists());
    p.run(&study(), &[]);
    let targets = dag.resolve_targets(&["render/t1".into()]).unwrap();
    let warm = plan(&dag, &reg, &p.store(), &targets, Force::Nothing).unwrap();
    assert_eq!((warm.would_run.len(), warm.up_to_date), (0, 10));
    let forced = plan(&dag, &reg, &p.store(), &targets, Force::Targets).unwrap();
    assert_eq!(forced.would_run.len(), 1);
    assert_eq!(forced.would_run[0].reasons, ["forced (--force)"]);
}

#[test]
fn targets_resolve_reports_kinds_and_ids_and_unknown_ones_list_the_valid_ones() {
    let reg = registry(&Default::default(), &[]);
    let dag = Dag::new(study(), &reg).unwrap();
    let ids = |t: &str| -> Vec<String> {
        let mut v: Vec<String> = dag
            .resolve_targets(&[t.to_string()])
            .unwrap()
            .iter()
            .map(|&i| dag.node(i).id.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids("reports/t1"), ["render/t1"]);
    assert_eq!(ids("reports/t2.md"), ["render/t2"]);
    assert_eq!(ids("prepare"), ["prepare/a", "prepare/b"]);
    assert_eq!(ids("train/b/s2"), ["train/b/s2"]);
    assert_eq!(dag.resolve_targets(&[]).unwrap().len(), 2);
    let err = dag.resolve_targets(&["reports/nope".into()]).unwrap_err().to_string();
    assert!(
        err.contains("reports/t1, reports/t2")
            && err.contains("fetch, prepare")
            && err.contains("node id"),
        "{err}"
    );
}

#[test]
fn invalid_dags_are_rejected_with_the_offending_node() {
    let reg = registry(&Default::default(), &[]);
    let err = |nodes: Vec<pipeline_engine::Node>| {
        format!("{:#}", Dag::new(nodes, &reg).err().expect("rejected"))
    };
    let mut dup = study();
    dup.push(node("fetch/a", "fetch", json!({}), &[]));
    assert!(err(dup).contains("two nodes have the id `fetch/a`"));
    assert!(err(vec![node("x", "fetch", json!({}), &[("in", "nope")])])
        .contains("`nope`, which is not a node"));
    assert!(err(vec![node("x", "nosuch", json!({}), &[])]).contains("stage kind `nosuch`"));
    let cycle = vec![
        node("x", "fetch", json!({}), &[("in", "y")]),
        node("y", "fetch", json!({}), &[("in", "x")]),
    ];
    assert!(err(cycle).contains("cycle"));
}

#[test]
fn status_keys_an_aggregate_without_its_failed_optional_inputs() {
    let p = Project::new();
    let mut nodes = study();
    make_inputs_optional(&mut nodes, "aggregate");
    set_param(&mut nodes, "fetch/b", "fail", json!(true));
    p.run(&nodes, &[]);
    let report = status_of(&p, &nodes, &["reports/t1"]);
    assert!(!report.up_to_date);
    let state =
        |id: &str| report.targets[0].out_of_date.iter().find(|s| s.id == id).map(|s| s.state);
    assert_eq!(state("fetch/b"), Some(State::Failed));
    assert_eq!(state("train/b/s1"), Some(State::Missing));
    // Built from the cells that could be built: up to date, under the key the run used.
    assert_eq!(state("aggregate"), None);
    assert_eq!(state("render/t1"), None);
}
