//! The `fetch` stage: one file of a Hugging Face hub repository at a pinned revision, checked
//! against its recorded blake3. A file already in the local Hugging Face cache is used without
//! the network. `HF_HUB_CACHE` / `HF_HOME`, `HF_ENDPOINT` and `HF_TOKEN` are honoured.

use crate::study::params::{FetchParams, RepoType};
use anyhow::{bail, Context, Result};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};
use pipeline_engine::{Stage, StageContext};
use std::path::{Path, PathBuf};

pub struct Fetch;

impl Stage for Fetch {
    fn kind(&self) -> &'static str {
        "fetch"
    }

    fn fingerprint(&self) -> blake3::Hash {
        crate::fingerprint::of_sources(self.kind(), &[include_str!("fetch.rs")])
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: FetchParams = ctx.params_as()?;
        let hub = Hub::from_env();
        let cached = hub.locate(&p)?;
        let actual = blake3_of_file(&cached)?;
        if actual.to_hex().as_str() != p.blake3 {
            // Never leave a bad copy where the next run would trust it: the cache's blob and
            // the snapshot entry pointing at it.
            if let Ok(blob) = std::fs::canonicalize(&cached) {
                let _ = std::fs::remove_file(blob);
            }
            let _ = std::fs::remove_file(&cached);
            bail!(
                "{} at revision {} of {}: blake3 is {actual}, but pipeline.yaml records {}; \
                 the cached copy {} was removed. Rerun to download it again; if it still \
                 differs, the pinned revision or the recorded hash in pipeline.yaml is wrong",
                p.file,
                p.revision,
                p.repo,
                p.blake3,
                cached.display()
            );
        }
        let dest = ctx.out_dir().join(file_name(&p.file));
        // A hard link shares the cache's immutable blob; copy where linking is impossible.
        let real = std::fs::canonicalize(&cached)?;
        if std::fs::hard_link(&real, &dest).is_err() {
            std::fs::copy(&real, &dest).with_context(|| format!("copying {}", real.display()))?;
        }
        ctx.log(&format!("{}/{}@{} verified ({actual})", p.repo, p.file, p.revision));
        Ok(())
    }
}

/// The name a fetched file has inside its artifact: its last path component.
pub fn file_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// The hub as this process is configured to reach it.
pub struct Hub {
    cache_dir: PathBuf,
    endpoint: String,
    token: Option<String>,
}

impl Hub {
    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`; `HF_ENDPOINT`;
    /// `HF_TOKEN`, else the token file beside the cache.
    pub fn from_env() -> Hub {
        let env = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        let cache_dir = env("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| env("HF_HOME").map(|h| Path::new(&h).join("hub")))
            .unwrap_or_else(|| Cache::default().path().clone());
        let token = env("HF_TOKEN").or_else(|| Cache::new(cache_dir.clone()).token());
        let endpoint = env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into());
        Hub { cache_dir, endpoint: endpoint.trim_end_matches('/').into(), token }
    }

    fn repo(p: &FetchParams) -> Repo {
        let kind = match p.repo_type {
            RepoType::Model => hf_hub::RepoType::Model,
            RepoType::Dataset => hf_hub::RepoType::Dataset,
        };
        Repo::with_revision(p.repo.clone(), kind, p.revision.clone())
    }

    /// Where the pinned file lives in the cache layout (`snapshots/<revision>/<file>`).
    pub fn snapshot_path(&self, p: &FetchParams) -> PathBuf {
        self.cache_dir.join(Self::repo(p).folder_name()).join("snapshots").join(&p.revision).join(&p.file)
    }

    /// The local path of the pinned file, downloading it into the cache when it is not there.
    pub fn locate(&self, p: &FetchParams) -> Result<PathBuf> {
        let cached = self.snapshot_path(p);
        if cached.exists() {
            return Ok(cached);
        }
        let api = ApiBuilder::from_cache(Cache::new(self.cache_dir.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_token(self.token.clone())
            .with_progress(false)
            .build()
            .context("starting the Hugging Face hub client")?;
        api.repo(Self::repo(p)).download(&p.file).with_context(|| {
            format!(
                "cannot download `{}` from {} repository `{}` at revision {} ({}).\n\
                 To supply it offline, place the file at {} (the Hugging Face cache layout; \
                 set HF_HOME or HF_HUB_CACHE to use another cache), or set HF_ENDPOINT to a \
                 reachable mirror; private repositories need HF_TOKEN",
                p.file,
                match p.repo_type {
                    RepoType::Model => "model",
                    RepoType::Dataset => "dataset",
                },
                p.repo,
                p.revision,
                self.endpoint,
                cached.display()
            )
        })
    }
}

/// blake3 of a file's bytes, read in a stream.
pub fn blake3_of_file(path: &Path) -> Result<blake3::Hash> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    h.update_reader(f).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize())
}
