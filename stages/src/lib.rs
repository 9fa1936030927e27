//! The study's stages. Each stage kind is one module implementing `pipeline_engine::Stage`;
//! `study` turns `pipeline.yaml` into the DAG's nodes. Nothing here knows about scheduling.

pub mod aggregate;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod features;
pub mod fetch;
pub mod file_hash;
pub mod finetune;
pub mod fingerprint;
pub mod gpu_check;
pub mod influence;
pub mod kind;
pub mod nn;
pub mod npy;
pub mod prepare;
pub mod pretrain;
pub mod probe;
pub mod render;
pub mod source_model;
pub mod splits;
pub mod study;
pub mod subset;
pub mod threat;
pub mod training;
pub mod visualise;
