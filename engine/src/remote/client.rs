//! The remote's objects, through object_store's S3 client on a small tokio runtime of its own:
//!
//! ```text
//! <prefix>/packs/<content hash>                   an artifact's files (pack.rs)
//! <prefix>/records/<key>/<content hash>.json      its .meta.json; written after its pack
//! ```
//!
//! A record is written only once its pack is complete (create-if-absent where the server
//! supports it), so no record ever points at missing or partial data, and listing `records/`
//! says what the remote holds in one request per thousand artifacts. A key with two records
//! is two different results of the same computation (a nondeterministic stage): both stay, and
//! both are reported; neither is pulled.

use super::credentials;
use super::settings::RemoteSettings;
use crate::key::{ContentHash, Key};
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// The server does not do what was asked (S3's `NotImplemented`, HTTP 501).
fn not_implemented(e: &object_store::Error) -> bool {
    let text = e.to_string();
    matches!(
        e,
        object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. }
    ) || text.contains("<Code>NotImplemented</Code>")
        || text.contains("501 Not Implemented")
}

/// What the remote holds: the content hash of each key's records (more than one: a conflict).
pub type Index = HashMap<Key, Vec<ContentHash>>;

/// Packs up to this size are sent in one request; larger ones in parts of this size.
const PART: usize = 16 << 20;

pub struct Remote {
    /// For listings and records.
    s3: AmazonS3,
    /// For packs (no overall request timeout).
    packs: AmazonS3,
    /// `prefix/` or empty.
    prefix: String,
    runtime: tokio::runtime::Runtime,
    /// The longest a request may wait for its answer, or a pack transfer for progress.
    timeout: Duration,
    pub settings: RemoteSettings,
}

/// A record larger than this is not read (records are a few kilobytes; the limit keeps a
/// hostile server from filling memory).
const MAX_RECORD: u64 = 64 << 20;

/// How writing a record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    /// The same record (same key, same content) was there already.
    AlreadyThere,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.settings.url)
    }
}

impl Remote {
    /// A client for `settings`, with credentials from the environment and the AWS files. No
    /// request is made until one is needed.
    pub fn open(settings: &RemoteSettings) -> Result<Remote> {
        let env = |name: &str| std::env::var(name).ok();
        Remote::open_with(settings, &env)
    }

    pub fn open_with(settings: &RemoteSettings, env: credentials::Env) -> Result<Remote> {
        let found = credentials::resolve(settings.profile.as_deref(), env)
            .map_err(|e| anyhow!("the remote's credentials: {e:#}"))?;
        let (bucket, prefix) = settings.bucket_and_prefix();
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let mut builder = match &found.credentials {
            // Containers and web identity: object_store reads those variables itself.
            None => AmazonS3Builder::from_env(),
            Some(c) => {
                let builder = AmazonS3Builder::new()
                    .with_access_key_id(&c.access_key_id)
                    .with_secret_access_key(&c.secret_access_key);
                match &c.session_token {
                    Some(token) => builder.with_token(token),
                    None => builder,
                }
            }
        };
        let region = settings
            .region
            .clone()
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or(found.region)
            .unwrap_or_else(|| "us-east-1".into());
        builder = builder.with_bucket_name(bucket).with_region(region);
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL"));
        let allow_http = endpoint.as_ref().is_some_and(|e| e.starts_with("http://"));
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let timeout = Duration::from_secs_f64(settings.timeout_seconds);
        let connect = timeout.min(Duration::from_secs(5));
        // Twice at most, and never for longer than two timeouts in all: an unreachable or stalled
        // remote costs a bounded wait, not the three minutes of object_store's default.
        let retry =
            RetryConfig { max_retries: 2, retry_timeout: 2 * timeout, ..Default::default() };
        let build = |options: ClientOptions| {
            builder
                .clone()
                .with_client_options(
                    options.with_allow_http(allow_http).with_connect_timeout(connect),
                )
                .with_retry(retry.clone())
                .build()
                .map_err(|e| anyhow!("configuring the S3 client for {}: {e}", settings.url))
        };
        // Listings and records: each request within the timeout. Packs may be large: their
        // requests have no overall limit, and a pack transfer instead fails when it makes no
        // progress for a timeout (see `get_pack` and `put_pack`).
        let s3 = build(ClientOptions::new().with_timeout(timeout))?;
        let packs = build(ClientOptions::new().with_timeout_disabled())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("remote")
            .enable_all()
            .build()
            .map_err(|e| anyhow!("starting the remote's threads: {e}"))?;
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Remote { s3, packs, prefix, runtime, timeout, settings: settings.clone() })
    }

    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Run `future` on the remote's runtime, from a thread that is not one of its own.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Start `future` on the remote's runtime; its handle can be waited for with `block_on`.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(future)
    }

    fn path(&self, rest: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{rest}", self.prefix))
    }
    fn pack_path(&self, content: &ContentHash) -> ObjectPath {
        self.path(&format!("packs/{content}"))
    }
    fn record_path(&self, key: &Key, content: &ContentHash) -> ObjectPath {
        self.path(&format!("records/{key}/{content}.json"))
    }

    /// Every record the remote holds (names that are not `<key>/<content>.json` are ignored).
    pub async fn index(&self) -> Result<Index> {
        self.list_records(&self.path("records")).await
    }

    /// The records of one key.
    pub async fn records_of(&self, key: &Key) -> Result<Vec<ContentHash>> {
        let index = self.list_records(&self.path(&format!("records/{key}"))).await?;
        Ok(index.get(key).cloned().unwrap_or_default())
    }

    async fn list_records(&self, under: &ObjectPath) -> Result<Index> {
        let records = self.path("records");
        let mut index = Index::new();
        let mut listing = self.s3.list(Some(under));
        while let Some(object) = listing.next().await {
            let object = object.map_err(|e| self.error(e, "listing records/"))?;
            let Some(mut parts) = object.location.prefix_match(&records) else { continue };
            let (Some(key), Some(file), None) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let content = file.as_ref().strip_suffix(".json").and_then(|c| c.parse().ok());
            if let (Ok(key), Some(content)) = (key.as_ref().parse(), content) {
                index.entry(key).or_default().push(content);
            }
        }
        for contents in index.values_mut() {
            contents.sort();
        }
        Ok(index)
    }

    /// The bytes of the record of `key` with `content`.
    pub async fn get_record(&self, key: &Key, content: &ContentHash) -> Result<Bytes> {
        let path = self.record_path(key, content);
        let got = self.s3.get(&path).await.map_err(|e| self.error(e, "reading a record"))?;
        if got.meta.size > MAX_RECORD {
            bail!("the record of {key} on {} is {} bytes: not a record", self.url(), got.meta.size);
        }
        got.bytes().await.map_err(|e| self.error(e, "reading a record"))
    }

    /// The pack of `content` as a stream of bytes, and its size. The answer, and then each
    /// piece of it, must come within the timeout.
    pub async fn get_pack(
        &self,
        content: &ContentHash,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let path = self.pack_path(content);
        let got = tokio::time::timeout(self.timeout, self.packs.get(&path))
            .await
            .map_err(|_| self.stalled("reading a pack"))?
            .map_err(|e| self.error(e, "reading a pack"))?;
        let (timeout, stalled) = (self.timeout, self.stalled("reading a pack"));
        let stalled = std::sync::Arc::new(stalled.to_string());
        let size = got.meta.size;
        let stream = futures::stream::unfold(got.into_stream(), move |mut stream| {
            let stalled = stalled.clone();
            async move {
                match tokio::time::timeout(timeout, stream.next()).await {
                    Err(_) => Some((Err(anyhow!("{stalled}")), stream)),
                    Ok(None) => None,
                    Ok(Some(piece)) => Some((piece.context("downloading the pack"), stream)),
                }
            }
        });
        Ok((size, stream.boxed()))
    }

    /// The size of the pack of `content`, if the remote has one.
    pub async fn pack_size(&self, content: &ContentHash) -> Result<Option<u64>> {
        match self.s3.head(&self.pack_path(content)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e, "looking for a pack")),
        }
    }

    /// Upload the pack of `content`, its bytes produced by `next_chunk` (empty at the end):
    /// one request when it is small, parts otherwise. An upload that fails or is cut leaves no
    /// object (S3 publishes an object, or a multipart upload, only when it is complete). Each
    /// request must end within the timeout plus a second per megabyte it sends: slower than
    /// that, the remote counts as stalled.
    pub async fn put_pack(
        &self,
        content: &ContentHash,
        size: u64,
        mut next_chunk: impl FnMut(usize) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let path = self.pack_path(content);
        if size <= PART as u64 {
            let bytes = next_chunk(PART)?;
            self.upload(size, self.packs.put(&path, PutPayload::from(bytes))).await?;
            return Ok(());
        }
        let upload = self.upload(0, self.packs.put_multipart(&path)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let result: Result<()> = async {
            loop {
                self.upload(4 * PART as u64, writer.wait_for_capacity(4)).await?;
                let bytes = next_chunk(PART)?;
                if bytes.is_empty() {
                    return Ok(());
                }
                writer.put(Bytes::from(bytes));
            }
        }
        .await;
        match result {
            Ok(()) => self.upload(4 * PART as u64, writer.finish()).await.map(|_| ()),
            Err(e) => {
                let _ = tokio::time::timeout(self.timeout, writer.abort()).await;
                Err(e)
            }
        }
    }

    /// Write the record of `key` with `content`, unless it is there already. Servers that
    /// ignore create-if-absent overwrite it with an equivalent record (same files, same bytes).
    pub async fn put_record(
        &self,
        key: &Key,
        content: &ContentHash,
        bytes: Vec<u8>,
    ) -> Result<Written> {
        let path = self.record_path(key, content);
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.s3.put_opts(&path, PutPayload::from(bytes.clone()), create).await {
            Ok(_) => Ok(Written::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Written::AlreadyThere),
            // A server without conditional writes may refuse the header (501) rather than
            // ignore it: write without it (an equivalent record at worst replaces this one).
            Err(e) if not_implemented(&e) => {
                self.s3
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(|e| self.error(e, "writing a record"))?;
                Ok(Written::Created)
            }
            Err(e) => Err(self.error(e, "writing a record")),
        }
    }

    /// `doing`, a step of an upload that sends `bytes`, within the timeout plus a second per
    /// megabyte.
    async fn upload<T>(
        &self,
        bytes: u64,
        doing: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T> {
        let budget = self.timeout + Duration::from_secs_f64(bytes as f64 / 1e6);
        match tokio::time::timeout(budget, doing).await {
            Ok(result) => result.map_err(|e| self.error(e, "uploading a pack")),
            Err(_) => Err(self.stalled("uploading a pack")),
        }
    }

    fn stalled(&self, doing: &str) -> anyhow::Error {
        anyhow!("{doing} on {}: no answer within {:?} (stalled)", self.settings.url, self.timeout)
    }

    /// One line for an error of object_store: what was being done, where, and the cause, with
    /// the S3 error code's meaning where it has a usual one.
    fn error(&self, e: object_store::Error, doing: &str) -> anyhow::Error {
        let text = e.to_string();
        let tag = |name: &str| {
            let start = text.find(&format!("<{name}>"))? + name.len() + 2;
            let end = start + text[start..].find(&format!("</{name}>"))?;
            Some(text[start..end].to_string())
        };
        let cause = match (&e, tag("Code").as_deref()) {
            (object_store::Error::Unauthenticated { .. }, _)
            | (
                _,
                Some(
                    "SignatureDoesNotMatch"
                    | "InvalidAccessKeyId"
                    | "InvalidToken"
                    | "ExpiredToken",
                ),
            ) => format!(
                "the credentials were refused ({}: check AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or the profile)",
                tag("Code").unwrap_or_else(|| "401".into())
            ),
            (_, Some("NoSuchBucket")) => {
                format!("the bucket `{}` does not exist", self.settings.bucket_and_prefix().0)
            }
            (object_store::Error::PermissionDenied { .. }, _) | (_, Some("AccessDenied")) => {
                "access denied (credentials that may only read? `read_only: true` pulls only)"
                    .to_string()
            }
            (_, Some(code)) => format!("{code}: {}", tag("Message").unwrap_or_default()),
            // object_store's own message (a connection refused, a timeout), on one line.
            (_, None) => text.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        anyhow!("{doing} on {}: {cause}", self.settings.url)
    }
}
