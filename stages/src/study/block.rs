//! The seam of a profile's optional block (`influence:`, `figure1:`, `probe:`): the part of the
//! study it turns on, tied to its settings, its checks against the rest of the profile and its
//! nodes by one trait, so that a block is wired by its own file (`wiring/<kind>.rs`) and one line
//! of [`super::expand::blocks`]. The block's settings type belongs to the stage it configures and
//! is a typed field of [`Profile`].

use super::config::Profile;
use super::wiring::finetune::SourceModel;
use crate::render::reports::Part;
use pipeline_engine::Node;

/// A field of a block that does not fit its profile, and why.
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// A profile's optional block and the part of the study it turns on.
pub trait Block: Sync {
    /// Its key in a profile, e.g. `probe` (errors are located at `profiles.<name>.<KEY>`).
    const KEY: &'static str;
    /// The part of the study whose reports it turns on.
    const PART: Part;
    type Settings;
    /// The profile's block, if it has one.
    fn of(profile: &Profile) -> Option<&Self::Settings>;
    /// What of the block does not fit the rest of `profile`.
    fn check(settings: &Self::Settings, profile: &Profile) -> Vec<Problem>;
    /// The block's nodes; `sources` are the grid's source models.
    fn nodes(settings: &Self::Settings, profile: &Profile, sources: &[SourceModel]) -> Vec<Node>;
}

/// A block as the expansion sees it, whatever its settings type.
pub trait Wired: Sync {
    fn key(&self) -> &'static str;
    fn part(&self) -> Part;
    /// Whether `profile` has the block.
    fn on(&self, profile: &Profile) -> bool;
    /// Its problems in `profile` (none when the profile does not have it).
    fn check(&self, profile: &Profile) -> Vec<Problem>;
    /// Its nodes in `profile` (none when the profile does not have it).
    fn nodes(&self, profile: &Profile, sources: &[SourceModel]) -> Vec<Node>;
}

impl<B: Block> Wired for B {
    fn key(&self) -> &'static str {
        B::KEY
    }

    fn part(&self) -> Part {
        B::PART
    }

    fn on(&self, profile: &Profile) -> bool {
        B::of(profile).is_some()
    }

    fn check(&self, profile: &Profile) -> Vec<Problem> {
        B::of(profile).map(|s| B::check(s, profile)).unwrap_or_default()
    }

    fn nodes(&self, profile: &Profile, sources: &[SourceModel]) -> Vec<Node> {
        B::of(profile).map(|s| B::nodes(s, profile, sources)).unwrap_or_default()
    }
}
