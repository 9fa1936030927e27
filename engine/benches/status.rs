//! Times `status`, a dry run and a no-op `run` over a synthetic grid shaped like the paper's:
//! 12,576 fine-tune cells, 15,003 nodes of which 14,193 feed the reports, with trivial stages. Prints timings; asserts
//! nothing about them. `cargo bench -p pipeline-engine --bench status`

use anyhow::Result;
use pipeline_engine::{
    plan, run, status, Dag, Force, Input, LocalExecutor, LockSettings, Node, ProgressMode, Publish,
    Registry, RunOptions, Stage, StageContext, Store,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

struct Trivial(&'static str);

impl Stage for Trivial {
    fn kind(&self) -> &'static str {
        self.0
    }
    fn fingerprint(&self) -> blake3::Hash {
        blake3::hash(self.0.as_bytes())
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        std::fs::write(
            ctx.out_dir().join("out.json"),
            format!("{} {}", ctx.node_id(), ctx.params()),
        )?;
        Ok(())
    }
}

fn node(id: String, kind: &str, params: serde_json::Value, inputs: Vec<Input>) -> Node {
    Node { id, kind: kind.into(), params, inputs, publish: vec![] }
}

fn grid() -> Vec<Node> {
    let datasets = ["cifar10", "cifar100", "svhn", "fmnist", "kmnist", "mnist"];
    let sources = ["natural", "l2_eps3", "linf_eps4", "linf_eps8"];
    let mut nodes = Vec::new();
    for d in datasets {
        nodes.push(node(format!("fetch/{d}"), "fetch", json!({"dataset": d}), vec![]));
        nodes.push(node(
            format!("prepare/{d}"),
            "prepare",
            json!({"dataset": d}),
            vec![Input::new("raw", format!("fetch/{d}"))],
        ));
        for s in 0..400 {
            nodes.push(node(
                format!("subset/{d}/{s}"),
                "subset",
                json!({"size": 100 * (s % 9 + 1), "seed": s}),
                vec![Input::new("data", format!("prepare/{d}"))],
            ));
        }
    }
    for src in sources {
        nodes.push(node(
            format!("pretrain/{src}"),
            "pretrain",
            json!({"source": src, "lr": 0.1}),
            vec![],
        ));
    }
    let mut cells = Vec::new();
    for src in sources {
        for d in datasets {
            for b in [0, 1, 3, 9] {
                for c in 0..131 {
                    let id = format!("finetune/{src}/{d}/b{b}/c{c}");
                    nodes.push(node(
                        id.clone(),
                        "finetune",
                        json!({"blocks": b, "cell": c, "lr": 0.01, "epochs": 10}),
                        vec![
                            Input::new("source", format!("pretrain/{src}")),
                            Input::new("subset", format!("subset/{d}/{}", (c * 3 + b) % 400)),
                        ],
                    ));
                    cells.push(Input::new(id.clone(), id));
                }
            }
        }
    }
    nodes.push(node("aggregate".into(), "aggregate", json!({}), cells));
    for t in 0..10 {
        let mut n = node(
            format!("render/t{t}"),
            "render",
            json!({"table": t}),
            vec![Input::new("cells", "aggregate")],
        );
        n.publish = vec![Publish::new("out.json", format!("reports/t{t}.json"))];
        nodes.push(n);
    }
    nodes
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    eprintln!("{what:<45} {:>8.3} s", start.elapsed().as_secs_f64());
    out
}

fn main() -> Result<()> {
    let mut registry = Registry::new();
    for kind in ["fetch", "prepare", "subset", "pretrain", "finetune", "aggregate", "render"] {
        registry.add(Arc::new(Trivial(kind)));
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("artifacts"))?;
    let nodes = grid();
    let total = nodes.len();
    let dag = timed(&format!("Dag::new ({total} nodes)"), || Dag::new(nodes, &registry))?;
    let targets = dag.resolve_targets(&[])?;
    let labelled = vec![("all reports".to_string(), targets.clone())];
    timed("status, nothing built", || {
        status(&dag, &registry, &store, &labelled, &Default::default(), None)
    })?;
    let opts = RunOptions {
        targets: targets.clone(),
        executor: Box::new(LocalExecutor { jobs: 2 }),
        force: Force::Nothing,
        fail_fast: false,
        progress: ProgressMode::Hidden,
        project_root: dir.path().to_path_buf(),
        lock: LockSettings { path: "reports/pipeline.lock".into(), profile: "test".into() },
        remote: None,
    };
    let cold =
        timed("run, cold (every node executes, fsyncs)", || run(&dag, &registry, &store, &opts))?;
    if let Some(failed) =
        cold.nodes.iter().find(|n| matches!(n.outcome, pipeline_engine::Outcome::Failed { .. }))
    {
        anyhow::bail!("{} of {total} nodes failed, e.g. {failed:?}", cold.failed);
    }
    eprintln!(
        "  → executed {}, cached {}, blocked {}, not started {}, nodes {}",
        cold.executed,
        cold.cached,
        cold.blocked,
        cold.not_started,
        cold.nodes.len()
    );
    assert_eq!(cold.executed, cold.nodes.len());
    let report = timed("status, everything up to date", || {
        status(&dag, &registry, &store, &labelled, &Default::default(), None)
    })?;
    assert!(report.up_to_date);
    timed("dry run, everything up to date", || {
        plan(&dag, &registry, &store, &targets, Force::Nothing)
    })?;
    let warm = timed("run, nothing to do (hashes every artifact)", || {
        run(&dag, &registry, &store, &opts)
    })?;
    assert_eq!(warm.executed, 0);

    let mut edited = grid();
    for n in edited.iter_mut().filter(|n| n.id.starts_with("subset/cifar10/")) {
        n.params["seed"] = json!(n.params["seed"].as_u64().unwrap() + 1000);
    }
    let dag = Dag::new(edited, &registry)?;
    let report = timed("status after editing 400 subsets", || {
        status(&dag, &registry, &store, &labelled, &Default::default(), None)
    })?;
    eprintln!("  → {} node(s) out of date", report.targets[0].out_of_date.len());
    Ok(())
}
