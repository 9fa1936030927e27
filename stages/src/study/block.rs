//! The seam of a profile's optional block (`influence:`, `figure1:`, `probe:`): everything the
//! study has of it — its settings parsed from the profile, its checks against the rest of the
//! profile, the stage kinds and nodes it adds, and the reports those kinds own with what their
//! nodes read — tied together by one trait, so that a block is its kind's module, its wiring
//! file (`wiring/<kind>.rs`) and one line of `wiring/mod.rs`'s `blocks!`. The settings type
//! belongs to the stage it configures; the profile holds it by the block's key, parsed from the
//! study file's text by [`Wired::parse`] (so that its errors are located like every other).

use super::config::{Profile, EMPTY_BLOCK};
use crate::finetune::cell::Cell;
use crate::finetune::params::SourceFormat;
use crate::kind::Registered;
use crate::render::row::ReportRow;
use crate::render::{RenderParams, Reports};
use pipeline_engine::{Input, Node};
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A source model of the grid as the cells and the blocks read it: its name, the node that provides it, and its format.
#[derive(Clone)]
pub struct SourceModel {
    pub name: String,
    pub node: String,
    pub format: SourceFormat,
}

/// A field of a block that does not fit its profile, and why.
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// A profile's optional block.
pub trait Block: Sync + 'static {
    /// Its key in a profile, e.g. `probe` (errors are located at `profiles.<name>.<KEY>`).
    const KEY: &'static str;
    type Settings: DeserializeOwned + Send + Sync + 'static;
    /// The reports its kinds own (drawn by the render stage where the profile has the block).
    const REPORTS: Reports;
    /// Whether report `row` is one of its own.
    fn owns(row: &ReportRow) -> bool {
        Self::REPORTS.rows.iter().any(|r| r.name == row.name)
    }
    /// The stage kinds whose nodes it adds, each with its code.
    fn stages() -> Vec<Registered>;
    /// What of the block does not fit the rest of `profile`.
    fn check(settings: &Self::Settings, profile: &Profile) -> Vec<Problem>;
    /// The grid cells whose networks it reads: their fine-tuning nodes keep them.
    fn kept(_settings: &Self::Settings) -> Vec<Cell> {
        Vec::new()
    }
    /// The block's nodes; `sources` are the grid's source models.
    fn nodes(settings: &Self::Settings, profile: &Profile, sources: &[SourceModel]) -> Vec<Node>;
    /// What it adds to the node of report `row` (one of its own, or any other): the inputs of
    /// its kinds that the report reads, and what it tells it (`params.block`).
    fn report(
        settings: &Self::Settings,
        profile: &Profile,
        sources: &[SourceModel],
        row: &ReportRow,
        params: &mut RenderParams,
    ) -> Vec<Input>;
}

/// The settings of block `B` in `profile`, if it has the block.
pub fn of<B: Block>(profile: &Profile) -> Option<&B::Settings> {
    profile.blocks.get(B::KEY)?.downcast_ref()
}

/// A block as the study sees it, whatever its settings type.
pub trait Wired: Sync {
    fn key(&self) -> &'static str;
    /// This block of every profile of the study file `text`, into each profile that has it.
    fn parse(&self, text: &str, profiles: &mut BTreeMap<String, Profile>)
        -> yaml_serde::Result<()>;
    /// Whether `profile` has the block.
    fn on(&self, profile: &Profile) -> bool;
    fn reports(&self) -> &'static Reports;
    fn stages(&self) -> Vec<Registered>;
    /// Its problems in `profile` (none when the profile does not have it).
    fn check(&self, profile: &Profile) -> Vec<Problem>;
    /// The cells it keeps in `profile` (none when the profile does not have it).
    fn kept(&self, profile: &Profile) -> Vec<Cell>;
    /// Its nodes in `profile` (none when the profile does not have it).
    fn nodes(&self, profile: &Profile, sources: &[SourceModel]) -> Vec<Node>;
    /// What it adds to report `row`'s node in `profile` (nothing when the profile does not
    /// have it).
    fn report(
        &self,
        profile: &Profile,
        sources: &[SourceModel],
        row: &ReportRow,
        params: &mut RenderParams,
    ) -> Vec<Input>;
}

impl<B: Block> Wired for B {
    fn key(&self) -> &'static str {
        B::KEY
    }

    fn parse(
        &self,
        text: &str,
        profiles: &mut BTreeMap<String, Profile>,
    ) -> yaml_serde::Result<()> {
        let file: File<B> = yaml_serde::from_str(text)?;
        for (name, Picked(settings)) in file.profiles {
            if let (Some(settings), Some(profile)) = (settings, profiles.get_mut(&name)) {
                profile.blocks.insert(B::KEY, Arc::new(settings));
            }
        }
        Ok(())
    }

    fn on(&self, profile: &Profile) -> bool {
        of::<B>(profile).is_some()
    }

    fn reports(&self) -> &'static Reports {
        &B::REPORTS
    }

    fn stages(&self) -> Vec<Registered> {
        B::stages()
    }

    fn check(&self, profile: &Profile) -> Vec<Problem> {
        of::<B>(profile).map(|s| B::check(s, profile)).unwrap_or_default()
    }

    fn kept(&self, profile: &Profile) -> Vec<Cell> {
        of::<B>(profile).map(B::kept).unwrap_or_default()
    }

    fn nodes(&self, profile: &Profile, sources: &[SourceModel]) -> Vec<Node> {
        of::<B>(profile).map(|s| B::nodes(s, profile, sources)).unwrap_or_default()
    }

    fn report(
        &self,
        profile: &Profile,
        sources: &[SourceModel],
        row: &ReportRow,
        params: &mut RenderParams,
    ) -> Vec<Input> {
        of::<B>(profile).map(|s| B::report(s, profile, sources, row, params)).unwrap_or_default()
    }
}

/// The study file read for block `B` alone: each profile's `B::KEY`, every other key passed
/// over (the schema reads those).
#[derive(Deserialize)]
#[serde(bound = "")]
struct File<B: Block> {
    #[serde(default)]
    profiles: BTreeMap<String, Picked<B>>,
}

/// One profile's block `B`, if it has one.
struct Picked<B: Block>(Option<B::Settings>);

impl<'de, B: Block> Deserialize<'de> for Picked<B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pick<B>(PhantomData<B>);
        impl<'de, B: Block> Visitor<'de> for Pick<B> {
            type Value = Picked<B>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a profile")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Picked<B>, A::Error> {
                let mut picked = None;
                while let Some(key) = map.next_key::<yaml_serde::Value>()? {
                    if key.as_str() != Some(B::KEY) {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    // A key with no value is more likely a block left unfinished than one
                    // meant away: an error at its place.
                    match map.next_value::<Option<B::Settings>>()? {
                        Some(settings) => picked = Some(settings),
                        None => return Err(serde::de::Error::custom(EMPTY_BLOCK)),
                    }
                }
                Ok(Picked(picked))
            }
        }
        d.deserialize_map(Pick(PhantomData))
    }
}
