//! The typed seam of a stage kind: its name, the type of its nodes' parameters, the code it is
//! made of and its run, tied together by one trait, so that a node's parameters can only be
//! those of its kind (`study::wiring::node::<Finetune>(id, &FinetuneParams, …)`) and a kind's
//! fingerprint is always over its own code (and, for the render stage, the code of the reports
//! it is given: [`StageKind::codes`]). [`stage`] turns a kind into the engine's untyped
//! [`Stage`].

use crate::fingerprint::{self, sources, Code, Sources};
use anyhow::Result;
use pipeline_engine::{Stage, StageContext};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The files every stage kind is built on, this seam and the fingerprint, named once for every
/// stage's fingerprint.
pub const SEAM: Sources = sources![
    "kind.rs",
    "fingerprint/build_record.rs",
    "fingerprint/mod.rs",
    "fingerprint/tokens.rs",
];

pub trait StageKind: Send + Sync + 'static {
    /// The name nodes and ids use, e.g. `finetune`.
    const KIND: &'static str;
    /// Everything that can change a node's output (its JSON form enters the key).
    type Params: Serialize + DeserializeOwned;
    /// The files the kind's code is made of (its fingerprint; see `fingerprint/mod.rs`).
    const CODE: &'static Code;
    /// The code its fingerprint covers: its own, and for a stage that runs code it is given
    /// (the render stage draws the reports other kinds own), that code too.
    fn codes(&self) -> Vec<&'static Code> {
        vec![Self::CODE]
    }
    /// Compute one node's artifact: read `ctx.input(..)`, write files under `ctx.out_dir()`.
    fn run(&self, ctx: &StageContext, params: Self::Params) -> Result<()>;
}

/// A stage kind as the engine sees it, with the code it is made of.
struct Untyped<K> {
    kind: K,
    codes: Vec<&'static Code>,
}

impl<K: StageKind> Stage for Untyped<K> {
    fn kind(&self) -> &'static str {
        K::KIND
    }

    fn fingerprint(&self) -> blake3::Hash {
        fingerprint::fingerprint(&self.codes, K::KIND)
    }

    fn code_parts(&self) -> BTreeMap<String, String> {
        fingerprint::parts(&self.codes)
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        self.kind.run(ctx, ctx.params_as()?)
    }
}

/// A stage of the engine's registry and the code it is made of.
pub type Registered = (Arc<dyn Stage>, Vec<&'static Code>);

/// Kind `kind` as a stage of the engine's registry, with the code it is made of.
pub fn stage<K: StageKind>(kind: K) -> Registered {
    let codes = kind.codes();
    (Arc::new(Untyped { kind, codes: codes.clone() }), codes)
}
