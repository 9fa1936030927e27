//! The engine: a content-hashed DAG of stage nodes. It expands nothing and knows nothing about
//! neural networks or datasets; it keys nodes by content, stores their artifacts, runs what is
//! missing, and reports status. Stages plug in through [`Stage`].

pub mod build;
pub mod canonical;
pub mod dag;
pub mod executor;
mod fsutil;
pub mod job;
pub mod key;
pub mod lock;
pub mod lockfile;
pub mod node;
pub mod plan;
pub mod progress;
mod publish;
pub mod record;
pub mod remote;
pub mod scheduler;
pub mod stage;
pub mod status;
pub mod store;

pub use build::{Builder, Step};
pub use dag::Dag;
pub use executor::slurm::{settings::SlurmSettings, SlurmRun};
pub use job::Job;
pub use key::{ContentHash, Key, KEY_VERSION};
pub use lockfile::LockSettings;
pub use node::{Input, Node, Publish};
pub use plan::{plan, Plan};
pub use progress::ProgressMode;
pub use remote::{Remote, RemoteSettings, TransferSummary};
pub use scheduler::{
    run, ExecutorChoice, Force, NodeOutcome, Outcome, RemoteUse, RunOptions, RunSummary,
};
pub use stage::{Registry, Stage, StageContext};
pub use status::{status, State, StatusReport};
pub use store::{Measurements, Store};
