//! The validated graph of nodes: unique ids, known stage kinds, inputs that name existing nodes,
//! no cycles. Also resolves command-line targets (report paths, stage kinds, node ids) into
//! nodes, computes dependency closures, and the build record (and so the key) a node would be
//! built from now. Nodes are addressed by their index in [`Dag::nodes`].

use crate::canonical::canonical_json;
use crate::error::{Fault, FaultContext};
use crate::key::{node_key, ContentHash, KEY_VERSION};
use crate::node::Node;
use crate::record::{BuildRecord, InputRecord};
use crate::stage::{Fingerprint, Registry};
use anyhow::{anyhow, bail, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

pub struct Dag {
    nodes: Vec<Node>,
    /// Computed when first asked for: a `status` of a grid that is not built needs few keys.
    canonical_params: Vec<OnceLock<String>>,
    index: HashMap<String, usize>,
    inputs: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    /// Every node, each after all of its inputs.
    order: Vec<usize>,
}

impl Dag {
    /// The nodes as a DAG, or what makes them none (an error of the study: [`Fault::Input`]).
    pub fn new(nodes: Vec<Node>, registry: &Registry) -> Result<Dag> {
        Dag::validate(nodes, registry).fault(Fault::Input)
    }

    fn validate(nodes: Vec<Node>, registry: &Registry) -> Result<Dag> {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            if node.id.is_empty() || node.id.chars().any(char::is_whitespace) {
                bail!("node id {:?} is empty or contains whitespace", node.id);
            }
            if index.insert(node.id.clone(), i).is_some() {
                bail!("two nodes have the id `{}`", node.id);
            }
            if registry.get(&node.kind).is_none() {
                let known: Vec<&str> = registry.kinds().collect();
                bail!(
                    "node `{}` has stage kind `{}`, which no stage provides (known: {})",
                    node.id,
                    node.kind,
                    known.join(", ")
                );
            }
            if let Some(p) =
                node.publish.iter().find(|p| p.to.to_string_lossy().contains(char::is_whitespace))
            {
                bail!("node `{}` publishes to {:?}, a path with whitespace", node.id, p.to);
            }
        }
        let mut inputs = Vec::with_capacity(nodes.len());
        let mut dependents = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let mut names = HashSet::new();
            let mut ins = Vec::with_capacity(node.inputs.len());
            for input in &node.inputs {
                if !names.insert(input.name.as_str()) {
                    bail!("node `{}` has two inputs named `{}`", node.id, input.name);
                }
                let Some(&j) = index.get(&input.node) else {
                    bail!(
                        "node `{}` reads input `{}` from `{}`, which is not a node",
                        node.id,
                        input.name,
                        input.node
                    );
                };
                ins.push(j);
                dependents[j].push(i);
            }
            inputs.push(ins);
        }
        let order = topological_order(&nodes, &inputs, &dependents)?;
        let canonical_params = (0..nodes.len()).map(|_| OnceLock::new()).collect();
        Ok(Dag { nodes, canonical_params, index, inputs, dependents, order })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
    /// The canonical JSON of node `i`'s parameters (what its key hashes).
    pub fn canonical_params(&self, i: usize) -> &str {
        self.canonical_params[i].get_or_init(|| {
            // A serde_json number is always finite (the `arbitrary_precision` feature is off), so
            // canonical text cannot fail here.
            canonical_json(&self.nodes[i].params).expect("serde_json numbers are finite")
        })
    }
    /// The nodes `i` reads, in the order of `node(i).inputs`.
    pub fn inputs_of(&self, i: usize) -> &[usize] {
        &self.inputs[i]
    }
    pub fn dependents_of(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// The record node `i` would be built from now, given the content hashes of built nodes
    /// and which nodes cannot be built (a failure upstream), both indexed like the DAG. Optional
    /// inputs that cannot be built are left out of the record and so of the key. `None` while
    /// some other input has no known content hash.
    pub fn current_record(
        &self,
        i: usize,
        fingerprints: &HashMap<String, Fingerprint>,
        content: &[Option<ContentHash>],
        unbuildable: &[bool],
    ) -> Option<BuildRecord> {
        let node = self.node(i);
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for (input, &j) in node.inputs.iter().zip(self.inputs_of(i)) {
            if input.optional && unbuildable[j] {
                continue;
            }
            inputs.push(InputRecord {
                name: input.name.clone(),
                node: input.node.clone(),
                content_hash: content[j]?,
            });
        }
        let fingerprint = &fingerprints[&node.kind];
        let pairs: Vec<(&str, ContentHash)> =
            inputs.iter().map(|r| (r.name.as_str(), r.content_hash)).collect();
        Some(BuildRecord {
            key_version: KEY_VERSION,
            key: node_key(&node.kind, &fingerprint.hash, self.canonical_params(i), &pairs),
            node: node.id.clone(),
            kind: node.kind.clone(),
            fingerprint: fingerprint.hash.to_hex().to_string(),
            code: fingerprint.parts.clone(),
            params: node.params.clone(),
            inputs,
        })
    }

    /// `targets` and everything they depend on, in topological order.
    pub fn closure(&self, targets: &[usize]) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = targets.to_vec();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend_from_slice(&self.inputs[i]);
            }
        }
        self.order.iter().copied().filter(|&i| seen[i]).collect()
    }

    /// Report names (a publish destination without its extension, e.g. `reports/table5`) and
    /// the nodes that publish them.
    pub fn reports(&self) -> BTreeMap<String, Vec<usize>> {
        let mut reports: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for publish in &node.publish {
                let name = publish.to.with_extension("").to_string_lossy().replace('\\', "/");
                let nodes = reports.entry(name).or_default();
                if !nodes.contains(&i) {
                    nodes.push(i);
                }
            }
        }
        reports
    }

    /// Stage kinds present in the DAG, in the order they first appear topologically.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = Vec::new();
        for &i in &self.order {
            let kind = self.nodes[i].kind.as_str();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds
    }

    /// Nodes named by command-line targets: a report (`reports/table5`, or a published file
    /// `reports/table5.md`), a stage kind (all its nodes), or a node id. No targets means every
    /// node that publishes something.
    pub fn resolve_targets(&self, targets: &[String]) -> Result<Vec<usize>> {
        let reports = self.reports();
        if targets.is_empty() {
            let mut all: Vec<usize> = reports.values().flatten().copied().collect();
            all.sort_unstable();
            all.dedup();
            return Ok(all);
        }
        let mut out = Vec::new();
        for target in targets {
            let trimmed = target.trim_end_matches('/');
            let found: Vec<usize> = if let Some(nodes) = reports.get(trimmed) {
                nodes.clone()
            } else if let Some(i) = self.publisher_of(trimmed) {
                vec![i]
            } else if self.nodes.iter().any(|n| n.kind == trimmed) {
                (0..self.nodes.len()).filter(|&i| self.nodes[i].kind == trimmed).collect()
            } else {
                self.index.get(trimmed).map(|&i| vec![i]).unwrap_or_default()
            };
            if found.is_empty() {
                return Err(anyhow!(
                    "unknown target `{target}`\n  reports: {}\n  stage kinds: {}\n  \
                     or any node id (`pipeline list --nodes` prints them)",
                    reports.keys().cloned().collect::<Vec<_>>().join(", "),
                    self.kinds().join(", ")
                ))
                .fault(Fault::Input);
            }
            for i in found {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }

    fn publisher_of(&self, path: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.publish.iter().any(|p| p.to.to_string_lossy() == path))
    }
}

/// Kahn's algorithm, stable in node order; a cycle is reported with the nodes on it.
fn topological_order(
    nodes: &[Node],
    inputs: &[Vec<usize>],
    dependents: &[Vec<usize>],
) -> Result<Vec<usize>> {
    let mut remaining: Vec<usize> = inputs.iter().map(Vec::len).collect();
    let mut ready: std::collections::VecDeque<usize> =
        (0..nodes.len()).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &d in &dependents[i] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push_back(d);
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck: Vec<&str> = (0..nodes.len())
            .filter(|&i| remaining[i] > 0)
            .take(5)
            .map(|i| nodes[i].id.as_str())
            .collect();
        bail!("the nodes form a cycle; nodes on or behind it: {}", stuck.join(", "));
    }
    Ok(order)
}
