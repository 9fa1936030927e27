//! The engine: a content-hashed DAG of stage nodes. It expands nothing and knows nothing about
//! neural networks or datasets; it keys nodes by content, stores their artifacts, runs what is
//! missing, and reports status. Stages plug in through [`Stage`]; the caller chooses where jobs
//! run by handing [`run`] an [`Executor`] ([`LocalExecutor`] or [`SlurmExecutor`]).
//!
//! Every module is private: what the binary, the stages and the tests use is re-exported here,
//! and that is the interface.

mod build;
mod canonical;
mod dag;
mod error;
mod executor;
mod fsutil;
mod job;
mod key;
mod lock;
mod lockfile;
mod node;
mod plan;
mod progress;
mod publish;
mod record;
mod remote;
mod scheduler;
mod stage;
mod status;
mod store;

pub use build::Builder;
pub use canonical::canonical_json;
pub use dag::Dag;
pub use error::{Fault, FaultContext};
pub use executor::local::LocalExecutor;
pub use executor::slurm::queue::SLURM_JOB_NAME_PREFIX;
pub use executor::slurm::settings::SlurmSettings;
pub use executor::slurm::worker::build_slurm_task;
pub use executor::slurm::{slurm_queued, SlurmExecutor};
pub use executor::{cpus, Executor};
pub use key::{node_key, Key};
pub use lockfile::{LockFile, LockSettings, LockedNode, LOCK_FILE};
pub use node::{Input, Node, Publish};
pub use plan::{plan, Plan};
pub use progress::ProgressMode;
pub use remote::commands::human_bytes;
pub use remote::{pull, push, Remote, RemoteSettings, TransferSummary};
pub use scheduler::{run, Force, NodeOutcome, Outcome, RemoteUse, RunOptions, RunSummary};
pub use stage::{Fingerprint, Registry, Stage, StageContext};
pub use status::{param_changes, status, State, StatusReport};
pub use store::{read_meta, Measurements, Store};
