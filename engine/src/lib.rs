//! The engine: a content-hashed DAG of stage nodes. It expands nothing and knows nothing about
//! neural networks or datasets; it keys nodes by content, stores their artifacts, runs what is
//! missing, and reports status. Stages plug in through [`Stage`].

pub mod node;
pub mod stage;

pub use node::{Input, Node, Publish};
pub use stage::{Registry, Stage, StageContext};
