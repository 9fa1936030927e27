//! The `fetch` stage: one file into the store. A local source checkpoint is copied in
//! ([`local`]), its content checked against the hash taken when the study was loaded. A file
//! of a Hugging Face hub repository is fetched at a pinned revision, checked
//! against the hub's content hash when downloaded ([`hub`]) and against its recorded blake3. A
//! file already in the local Hugging Face cache is used without the network. `HF_HUB_CACHE` /
//! `HF_HOME`, `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE` and the hub timeouts are honoured.
//!
//! A file whose revision or hash is `unpinned` in `pipeline.yaml` is fetched from `main` (always
//! asking the hub what `main` is) and checked against whatever is pinned; the resolved commit and
//! the file's blake3 go to the node's log and to [`PIN_FILE`] in the artifact, from where
//! `pipeline status` and `run` show what to paste into `pipeline.yaml`.

mod artifact;
pub mod hub;
pub mod local;
pub mod params;

use crate::fetch::params::Pin;
use crate::file_hash::blake3_of_file;
use crate::fingerprint::{sources, Code};
use crate::kind::StageKind;
use anyhow::{bail, Context, Result};
pub use artifact::{fetched_file, file_name, PinRecord, PIN_FILE};
use hub::Hub;
use params::{FetchParams, HubFile, RepoType};
use pipeline_engine::StageContext;

/// The `pipeline.yaml` lines that pin the file of fetch node `id`: `revision:` and the hash
/// field (`blake3:` for a source's checkpoint, `train_blake3:` / `test_blake3:` for a dataset).
pub fn paste_lines(id: &str, p: &HubFile, pin: &PinRecord) -> String {
    let hash_field = match p.repo_type {
        RepoType::Model => "blake3".to_string(),
        RepoType::Dataset => format!("{}_blake3", id.rsplit('/').next().unwrap_or("train")),
    };
    format!("revision: {}, {hash_field}: {}", pin.revision, pin.blake3)
}

/// One line of the unpinned-files warning for fetch node `id`: what to paste when the file has
/// been fetched (its artifact's [`PinRecord`]).
pub fn unpinned_advice(id: &str, p: &HubFile, pin: Option<&PinRecord>) -> String {
    match pin {
        Some(pin) => format!("  {id} ({} {}): write {}", p.repo, p.file, paste_lines(id, p, pin)),
        None => format!("  {id} ({} {}): not fetched yet", p.repo, p.file),
    }
}

pub struct Fetch;

/// The files this stage's code is made of (its fingerprint; see `fingerprint.rs`).
pub const CODE: Code = Code {
    root: "fetch/mod.rs",
    parts: &[
        sources![
            "fetch/mod.rs",
            "checkpoint/format.rs",
            "fetch/artifact.rs",
            "fetch/hub.rs",
            "fetch/local.rs",
            "fetch/params.rs",
            "file_hash.rs",
        ],
        crate::kind::SEAM,
    ],
};

impl StageKind for Fetch {
    const KIND: &'static str = "fetch";
    type Params = FetchParams;
    const CODE: &'static Code = &CODE;

    fn run(&self, ctx: &StageContext, params: FetchParams) -> Result<()> {
        match params {
            FetchParams::Hub(p) => fetch_hub(ctx, &p),
            FetchParams::Local(f) => {
                local::copy_into(&f, ctx.out_dir())?;
                ctx.log(&format!("{} copied into the store ({})", f.path.display(), f.blake3));
                Ok(())
            }
        }
    }
}

/// A hub file: from the Hugging Face cache, or downloaded into it, and verified.
fn fetch_hub(ctx: &StageContext, p: &HubFile) -> Result<()> {
    let hub = Hub::from_env();
    let (cached, commit) = hub.locate(p, &|line| ctx.log(line))?;
    let actual = blake3_of_file(&cached)?;
    if let Pin::Hex(expected) = &p.blake3 {
        if actual.to_hex().as_str() != expected {
            // Never leave a bad copy where the next run would trust it: the cache's blob and
            // the snapshot entry pointing at it.
            if let Ok(blob) = std::fs::canonicalize(&cached) {
                let _ = std::fs::remove_file(blob);
            }
            let _ = std::fs::remove_file(&cached);
            bail!(
                "{} at revision {commit} of {}: blake3 is {actual}, but pipeline.yaml records \
                     {expected}; the cached copy {} was removed. Rerun to download it again; if \
                     it still differs, the pinned revision or the recorded hash in pipeline.yaml \
                     is wrong",
                p.file,
                p.repo,
                cached.display()
            );
        }
    }
    let dest = ctx.out_dir().join(file_name(&p.file));
    // A hard link shares the cache's immutable blob; copy where linking is impossible.
    let real = std::fs::canonicalize(&cached)?;
    if std::fs::hard_link(&real, &dest).is_err() {
        std::fs::copy(&real, &dest).with_context(|| format!("copying {}", real.display()))?;
    }
    if p.is_unpinned() {
        let pin = PinRecord {
            repo: p.repo.clone(),
            file: p.file.clone(),
            revision: commit,
            blake3: actual.to_hex().to_string(),
        };
        std::fs::write(ctx.out_dir().join(PIN_FILE), serde_json::to_vec_pretty(&pin)?)?;
        ctx.log(&format!(
            "{}/{} is not pinned in pipeline.yaml; fetched from `main`. To pin it, write: {}",
            p.repo,
            p.file,
            paste_lines(ctx.node_id(), p, &pin)
        ));
    } else {
        ctx.log(&format!("{}/{}@{commit} verified ({actual})", p.repo, p.file));
    }
    Ok(())
}
