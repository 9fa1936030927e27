//! The Hugging Face hub's file protocol, spoken directly (as the Python client does) so that every
//! request has a connect and a read timeout, failures are retried a bounded number of times, and
//! every download is checked against the hub's own content hash:
//!
//! - `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` (no redirects) answers the commit
//!   (`X-Repo-Commit`) and the content hash: `X-Linked-Etag` for LFS files (sha256 of the bytes),
//!   else `ETag` (git's blob sha1).
//! - `GET` of the same URL (redirects followed) fetches the bytes into
//!   `blobs/<etag>.incomplete`, resuming with `Range` after an interruption; the bytes are checked
//!   against the hash before the blob is renamed into place, and removed when they fail.
//! - The cache layout is the Python client's: `<cache>/<models|datasets>--org--name/` with
//!   `blobs/<etag>`, `snapshots/<commit>/<file>` (a relative symlink to the blob) and
//!   `refs/<branch>` (the commit a branch resolved to).
//!
//! `HF_HUB_OFFLINE=1` makes no request at all: files come from the cache only, an unpinned file
//! through `refs/main`. When the hub cannot be reached, an unpinned file that the cache holds is
//! used from there, and the log says so. Timeouts: `HF_HUB_ETAG_TIMEOUT` (metadata, default 10 s)
//! and `HF_HUB_DOWNLOAD_TIMEOUT` (each read of a download, default 10 s), as the Python client.

use super::params::{HubFile, RepoType};
use crate::fetch::params::Pin;
use anyhow::{anyhow, bail, Context, Result};
use sha2::Digest;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Attempts per request (the first and two retries), with a pause of 1 s, then 2 s, between.
const ATTEMPTS: u32 = 3;

/// The hub as this process is configured to reach it.
pub struct Hub {
    cache_dir: PathBuf,
    endpoint: String,
    token: Option<String>,
    offline: bool,
    etag_timeout: Duration,
    download_timeout: Duration,
}

/// What the hub says about a file at a revision.
struct Metadata {
    commit: String,
    /// The content hash the bytes must have (quotes and `W/` removed).
    etag: String,
}

/// Why a request failed, as the first line of an error says it.
enum Failure {
    /// No answer: refused, unresolvable, timed out. The hub may be unreachable.
    Unreachable(String),
    /// An answer saying no (404, 401, …).
    Refused(String),
}

impl Hub {
    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`; `HF_ENDPOINT`;
    /// `HF_TOKEN`, else the token file of `HF_HOME`; `HF_HUB_OFFLINE`; the timeouts.
    pub fn from_env() -> Hub {
        let env = |k| std::env::var(k).ok().filter(|v: &String| !v.trim().is_empty());
        let home = env("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let user = env("HOME").map(PathBuf::from).unwrap_or_default();
            user.join(".cache/huggingface")
        });
        let cache_dir = env("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| home.join("hub"));
        let token = env("HF_TOKEN").or_else(|| {
            let token = fs::read_to_string(home.join("token")).ok()?;
            Some(token.trim().to_string()).filter(|t| !t.is_empty())
        });
        let endpoint = env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into());
        let seconds = |k, default| {
            Duration::from_secs_f64(
                env(k).and_then(|v| v.parse().ok()).filter(|s: &f64| *s > 0.0).unwrap_or(default),
            )
        };
        let offline = env("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        });
        Hub {
            cache_dir,
            endpoint: endpoint.trim_end_matches('/').into(),
            token,
            offline,
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT", 10.0),
            download_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10.0),
        }
    }

    /// `<cache>/datasets--org--name` (or `models--…`).
    fn folder(&self, p: &HubFile) -> PathBuf {
        let kind = match p.repo_type {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
        };
        self.cache_dir.join(format!("{kind}--{}", p.repo.replace('/', "--")))
    }

    /// Where the file of `commit` lives in the cache (`snapshots/<commit>/<file>`).
    pub fn snapshot_path(&self, p: &HubFile, commit: &str) -> PathBuf {
        self.folder(p).join("snapshots").join(commit).join(&p.file)
    }

    /// The commit `refs/main` records in the cache, if any.
    fn cached_main(&self, p: &HubFile) -> Option<String> {
        let commit = fs::read_to_string(self.folder(p).join("refs/main")).ok()?;
        Some(commit.trim().to_string()).filter(|c| !c.is_empty())
    }

    /// `d/train.parquet of dataset repository org/set at <revision>` — how errors name a file.
    fn describe(&self, p: &HubFile) -> String {
        let kind = match p.repo_type {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
        };
        format!("`{}` of {kind} repository `{}` at {}", p.file, p.repo, revision(p))
    }

    /// The local path of the file and the commit it is at; `log` hears what was done. A pinned
    /// file in the cache is used without a request; otherwise the hub is asked (an unpinned file
    /// always asks what `main` is now, falling back to the cache when the hub cannot be reached).
    pub fn locate(&self, p: &HubFile, log: &dyn Fn(&str)) -> Result<(PathBuf, String)> {
        if let Pin::Hex(commit) = &p.revision {
            let cached = self.snapshot_path(p, commit);
            if cached.exists() {
                return Ok((cached, commit.clone()));
            }
        }
        if self.offline {
            return self.cached(p).ok_or_else(|| {
                anyhow!(
                    "{} is not in the Hugging Face cache, and HF_HUB_OFFLINE=1 forbids \
                     downloading it\n  expected at {}",
                    self.describe(p),
                    self.expected_path(p)
                )
            });
        }
        let meta = match self.metadata(p) {
            Ok(meta) => meta,
            Err(Failure::Unreachable(why)) => {
                if let (Pin::Unpinned, Some((path, commit))) = (&p.revision, self.cached(p)) {
                    log(&format!(
                        "the hub could not be reached ({why}); using `main` = {commit} as the \
                         cache last saw it"
                    ));
                    return Ok((path, commit));
                }
                bail!(
                    "{}: the hub at {} could not be reached: {why}\n  to work offline, place \
                     the file at {} (the Hugging Face cache layout), or point HF_ENDPOINT at a \
                     reachable mirror",
                    self.describe(p),
                    self.endpoint,
                    self.expected_path(p)
                );
            }
            Err(Failure::Refused(why)) => bail!("{}: {why}", self.describe(p)),
        };
        let blob = self.folder(p).join("blobs").join(&meta.etag);
        if !blob.exists() {
            self.download(p, &meta, &blob)?;
        } else if let Err(e) = check(&blob, &meta.etag) {
            let _ = fs::remove_file(&blob);
            bail!(
                "{}: the cached blob {} {e:#}; removed it, run again",
                self.describe(p),
                blob.display()
            );
        }
        let folder = self.folder(p);
        if let Pin::Unpinned = p.revision {
            write_file(&folder.join("refs/main"), meta.commit.as_bytes())?;
        }
        let snapshot = self.snapshot_path(p, &meta.commit);
        link(&blob, &snapshot)?;
        if !is_content_hash(&meta.etag) {
            log(&format!(
                "{}: the hub gave no content hash (ETag {}), so the bytes are checked only \
                 against pipeline.yaml",
                self.describe(p),
                meta.etag
            ));
        }
        Ok((snapshot, meta.commit))
    }

    /// The cached file and its commit, for the pinned revision or `refs/main`.
    fn cached(&self, p: &HubFile) -> Option<(PathBuf, String)> {
        let commit = match &p.revision {
            Pin::Hex(commit) => commit.clone(),
            Pin::Unpinned => self.cached_main(p)?,
        };
        let path = self.snapshot_path(p, &commit);
        path.exists().then_some((path, commit))
    }

    /// Where a user should place the file to work offline.
    fn expected_path(&self, p: &HubFile) -> String {
        match &p.revision {
            Pin::Hex(commit) => self.snapshot_path(p, commit).display().to_string(),
            Pin::Unpinned => format!(
                "{} (with that commit in {})",
                self.folder(p).join("snapshots/<commit>").join(&p.file).display(),
                self.folder(p).join("refs/main").display()
            ),
        }
    }

    fn url(&self, p: &HubFile) -> String {
        let prefix = match p.repo_type {
            RepoType::Model => String::new(),
            RepoType::Dataset => "datasets/".into(),
        };
        format!("{}/{prefix}{}/resolve/{}/{}", self.endpoint, p.repo, revision(p), p.file)
    }

    fn agent(&self, read_timeout: Duration, redirects: u32) -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout_connect(self.etag_timeout)
            .timeout_read(read_timeout)
            .redirects(redirects)
            .try_proxy_from_env(true)
            .build()
    }

    fn request(&self, agent: &ureq::Agent, method: &str, url: &str) -> ureq::Request {
        let request = agent.request(method, url).set("Accept-Encoding", "identity");
        match &self.token {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    /// The commit and content hash of the file, with retries.
    fn metadata(&self, p: &HubFile) -> Result<Metadata, Failure> {
        let agent = self.agent(self.etag_timeout, 0);
        let url = self.url(p);
        let response = retry(|| self.request(&agent, "HEAD", &url).call().map_err(classify))?;
        let header = |name: &str| response.header(name).map(|v| v.trim().to_string());
        let commit = header("x-repo-commit").ok_or_else(|| {
            Failure::Refused(format!(
                "{url} answered without X-Repo-Commit: not a Hugging Face hub"
            ))
        })?;
        let etag = header("x-linked-etag").or_else(|| header("etag")).ok_or_else(|| {
            Failure::Refused(format!("{url} answered without an ETag: not a Hugging Face hub"))
        })?;
        let etag = etag.trim_start_matches("W/").trim_matches('"').to_string();
        if etag.is_empty() || etag.contains(['/', '\\', '.']) {
            return Err(Failure::Refused(format!("{url} answered an unusable ETag `{etag}`")));
        }
        Ok(Metadata { commit, etag })
    }

    /// Download the file into `blob`, resuming a partial `.incomplete`, checking the bytes.
    fn download(&self, p: &HubFile, meta: &Metadata, blob: &Path) -> Result<()> {
        let partial = blob.with_extension("incomplete");
        fs::create_dir_all(blob.parent().expect("blobs/ has a parent"))?;
        let agent = self.agent(self.download_timeout, 5);
        let url = self.url(p);
        let mut failure = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1 << (attempt - 1)));
            }
            let have = fs::metadata(&partial).map_or(0, |m| m.len());
            let mut request = self.request(&agent, "GET", &url);
            if have > 0 {
                request = request.set("Range", &format!("bytes={have}-"));
            }
            let response = match request.call().map_err(classify) {
                Ok(r) => r,
                Err(Failure::Unreachable(why)) => {
                    failure = Some(why);
                    continue;
                }
                Err(Failure::Refused(why)) => bail!("{}: {why}", self.describe(p)),
            };
            // A server that ignores the range sends everything again.
            let append = have > 0 && response.status() == 206;
            let mut out = OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&partial)
                .with_context(|| format!("opening {}", partial.display()))?;
            match std::io::copy(&mut response.into_reader(), &mut out) {
                Ok(_) => {
                    out.sync_all()?;
                    failure = None;
                    break;
                }
                Err(e) => failure = Some(describe_io(&e, self.download_timeout)),
            }
        }
        if let Some(why) = failure {
            bail!(
                "{}: the download from {} failed {ATTEMPTS} times: {why}\n  run again to resume \
                 it; HF_HUB_DOWNLOAD_TIMEOUT sets how long a read may stall",
                self.describe(p),
                self.endpoint
            );
        }
        if let Err(e) = check(&partial, &meta.etag) {
            let _ = fs::remove_file(&partial);
            bail!(
                "{}: the downloaded bytes {e:#}; they were discarded, nothing was recorded — run \
                 again, and if it persists the hub or a proxy is corrupting the transfer",
                self.describe(p)
            );
        }
        fs::rename(&partial, blob).with_context(|| format!("moving {} into place", blob.display()))
    }
}

/// The revision a request names: the pinned commit, or `main`.
fn revision(p: &HubFile) -> &str {
    match &p.revision {
        Pin::Hex(commit) => commit,
        Pin::Unpinned => "main",
    }
}

/// Retry a request on failures that may pass (no answer, 5xx, 429).
fn retry(call: impl Fn() -> Result<ureq::Response, Failure>) -> Result<ureq::Response, Failure> {
    let mut last = Failure::Unreachable(String::new());
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1 << (attempt - 1)));
        }
        match call() {
            Ok(response) => return Ok(response),
            Err(refused @ Failure::Refused(_)) => return Err(refused),
            Err(unreachable) => last = unreachable,
        }
    }
    Err(match last {
        Failure::Unreachable(why) => Failure::Unreachable(format!("{why} ({ATTEMPTS} attempts)")),
        refused => refused,
    })
}

/// A failed request as a cause a person can act on.
fn classify(e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Status(code @ (429 | 500..=599), _) => {
            Failure::Unreachable(format!("the hub answered HTTP {code}"))
        }
        ureq::Error::Status(404, r) => Failure::Refused(format!(
            "not found (HTTP 404{}): check the repository, revision and file name in \
             pipeline.yaml",
            r.header("x-error-code").map(|c| format!(", {c}")).unwrap_or_default()
        )),
        ureq::Error::Status(code @ (401 | 403), _) => Failure::Refused(format!(
            "access denied (HTTP {code}): the repository is private or gated; set HF_TOKEN to a \
             token that may read it"
        )),
        ureq::Error::Status(code, _) => Failure::Refused(format!("the hub answered HTTP {code}")),
        ureq::Error::Transport(t) => Failure::Unreachable(match t.kind() {
            ureq::ErrorKind::Dns => format!("cannot resolve the host ({t})"),
            ureq::ErrorKind::ConnectionFailed => format!("connection failed ({t})"),
            ureq::ErrorKind::Io => format!("no answer in time or connection lost ({t})"),
            _ => t.to_string(),
        }),
    }
}

fn describe_io(e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("the hub stopped sending for {} s", timeout.as_secs_f64())
        }
        _ => format!("the connection broke ({e})"),
    }
}

/// Whether an ETag is a hash of the content: sha256 (LFS) or git's blob sha1.
fn is_content_hash(etag: &str) -> bool {
    matches!(etag.len(), 40 | 64) && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Check `path` against the hub's content hash `etag` (nothing to check when it is none).
fn check(path: &Path, etag: &str) -> Result<()> {
    let expected = etag.to_ascii_lowercase();
    let actual = match etag.len() {
        64 if is_content_hash(etag) => hash_file::<sha2::Sha256>(path, None)?,
        40 if is_content_hash(etag) => {
            let size = fs::metadata(path)?.len();
            hash_file::<sha1::Sha1>(path, Some(format!("blob {size}\0")))?
        }
        _ => return Ok(()),
    };
    if actual != expected {
        bail!("do not match the hub's content hash {expected} (they hash to {actual})");
    }
    Ok(())
}

/// The hex digest of `prefix` followed by the file's bytes.
fn hash_file<D: Digest>(path: &Path, prefix: Option<String>) -> Result<String> {
    let mut hasher = D::new();
    if let Some(prefix) = prefix {
        hasher.update(prefix.as_bytes());
    }
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(path.parent().expect("a file in the cache"))?;
    // One name per call: two fetches of one repository in one process write its refs at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{call}", std::process::id()));
    File::create(&tmp)?.write_all(bytes)?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// `snapshot` → `blob` as a relative symlink (a copy where links are impossible).
fn link(blob: &Path, snapshot: &Path) -> Result<()> {
    let dir = snapshot.parent().expect("a file in the snapshot");
    fs::create_dir_all(dir)?;
    if snapshot.exists() {
        return Ok(());
    }
    let _ = fs::remove_file(snapshot); // a dangling link
    let depth = snapshot
        .strip_prefix(blob.parent().and_then(Path::parent).expect("<repo>/blobs/<etag>"))
        .map(|rel| rel.components().count() - 1)
        .unwrap_or(0);
    let target: PathBuf = std::iter::repeat_n("..", depth)
        .collect::<PathBuf>()
        .join("blobs")
        .join(blob.file_name().expect("a blob name"));
    #[cfg(unix)]
    if std::os::unix::fs::symlink(&target, snapshot).is_ok() {
        return Ok(());
    }
    fs::copy(blob, snapshot).with_context(|| format!("copying into {}", snapshot.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hashes_are_checked_as_the_hub_computes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello\n").unwrap();
        // `printf 'hello\n' | sha256sum` and `git hash-object`.
        check(&path, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03").unwrap();
        check(&path, "ce013625030ba8dba906f756967f9e9ca394464a").unwrap();
        let err = check(&path, &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("5891b5b5"), "{err}");
        assert!(check(&path, &"0".repeat(40)).is_err());
        check(&path, "not-a-hash").unwrap();
    }
}
