//! `run --dry-run`: which nodes a run would execute and why, computed from the same analysis as
//! `status`, touching nothing. Nodes waiting on an upstream that will run are listed because
//! they may run; early cutoff skips them if the upstream's bytes come out unchanged.

use crate::dag::Dag;
use crate::scheduler::Force;
use crate::stage::Registry;
use crate::status::{analyse, NodeStatus, State};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Nodes that would run (or may run, when waiting on an upstream), in build order.
    pub would_run: Vec<NodeStatus>,
    /// Nodes whose artifacts would be reused.
    pub up_to_date: usize,
}

/// What `run` would do for `targets` with `force`.
pub fn plan(
    dag: &Dag,
    registry: &Registry,
    store: &Store,
    targets: &[usize],
    force: Force,
) -> Result<Plan> {
    let closure = dag.closure(targets);
    let statuses = analyse(dag, registry, store, &closure, &Default::default(), None)?.statuses;
    let mut forced = vec![false; dag.nodes().len()];
    for &i in force.nodes(targets, &closure) {
        forced[i] = true;
    }
    let mut plan = Plan { would_run: Vec::new(), up_to_date: 0 };
    for i in closure {
        let mut s = statuses[i].clone().expect("analysed");
        if s.state == State::UpToDate {
            if !forced[i] {
                plan.up_to_date += 1;
                continue;
            }
            s.reasons.push("forced (--force)".into());
        }
        if s.state == State::Running {
            s.reasons.push("another process is building it; its result will be reused".into());
        }
        plan.would_run.push(s);
    }
    Ok(plan)
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.would_run {
            writeln!(f, "would run  {:<8} {}: {}", s.state.label(), s.id, s.reasons.join("; "))?;
        }
        writeln!(f, "{} node(s) would run, {} up to date", self.would_run.len(), self.up_to_date)
    }
}
