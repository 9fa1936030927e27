//! The remote artifact cache: built artifacts shared between machines through an S3 bucket,
//! addressed by key as in the local store, so that a machine that checks out a `pipeline.lock`
//! can fetch what another built instead of building it again.
//!
//! Trust nothing, cost nothing when it fails: everything downloaded is checked before it enters
//! the store (`pack.rs`), what is uploaded becomes visible only when complete (`client.rs`), a
//! remote that cannot be reached, stalls or misbehaves costs a bounded wait and a warning, after
//! which the run builds locally, and a remote result that differs from a local build of the same
//! key is reported by node, never replaced.

mod client;
pub(crate) mod commands;
mod credentials;
mod pack;
pub(crate) mod run;
mod settings;
pub(crate) mod transfer;

pub use client::{Index, Remote};
pub use commands::{pull, push, TransferSummary};
pub use settings::RemoteSettings;
