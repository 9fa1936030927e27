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
use anyhow::{anyhow, Context, Result};
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

/// What the remote holds: the content hash of each key's records (more than one: a conflict).
pub type Index = HashMap<Key, Vec<ContentHash>>;

/// Packs up to this size are sent in one request; larger ones in parts of this size.
const PART: usize = 16 << 20;

pub struct Remote {
    s3: AmazonS3,
    /// `prefix/` or empty.
    prefix: String,
    runtime: tokio::runtime::Runtime,
    pub settings: RemoteSettings,
}

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
            .context("finding credentials for the remote")?;
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
        let options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout(timeout)
            .with_connect_timeout(timeout.min(Duration::from_secs(5)));
        // Twice at most, and never for longer than two timeouts in all: an unreachable or stalled
        // remote costs a bounded wait, not the three minutes of object_store's default.
        let retry =
            RetryConfig { max_retries: 2, retry_timeout: 2 * timeout, ..Default::default() };
        let s3 = builder
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .with_context(|| format!("configuring the S3 client for {}", settings.url))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("remote")
            .enable_all()
            .build()
            .context("starting the remote's threads")?;
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Remote { s3, prefix, runtime, settings: settings.clone() })
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
        got.bytes().await.map_err(|e| self.error(e, "reading a record"))
    }

    /// The pack of `content` as a stream of bytes, and its size.
    pub async fn get_pack(
        &self,
        content: &ContentHash,
    ) -> Result<(u64, BoxStream<'static, object_store::Result<Bytes>>)> {
        let got = self
            .s3
            .get(&self.pack_path(content))
            .await
            .map_err(|e| self.error(e, "reading a pack"))?;
        Ok((got.meta.size, got.into_stream()))
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
    /// object (S3 publishes an object, or a multipart upload, only when it is complete).
    pub async fn put_pack(
        &self,
        content: &ContentHash,
        size: u64,
        mut next_chunk: impl FnMut(usize) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let path = self.pack_path(content);
        if size <= PART as u64 {
            let bytes = next_chunk(PART)?;
            self.s3
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|e| self.error(e, "uploading a pack"))?;
            return Ok(());
        }
        let upload =
            self.s3.put_multipart(&path).await.map_err(|e| self.error(e, "uploading a pack"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let result: Result<()> = async {
            loop {
                writer.wait_for_capacity(4).await.map_err(|e| self.error(e, "uploading a pack"))?;
                let bytes = next_chunk(PART)?;
                if bytes.is_empty() {
                    return Ok(());
                }
                writer.put(Bytes::from(bytes));
            }
        }
        .await;
        match result {
            Ok(()) => {
                writer.finish().await.map_err(|e| self.error(e, "uploading a pack"))?;
                Ok(())
            }
            Err(e) => {
                let _ = writer.abort().await;
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
            // A server without conditional writes may refuse the header rather than ignore it.
            Err(
                object_store::Error::NotImplemented { .. }
                | object_store::Error::NotSupported { .. },
            ) => {
                self.s3
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(|e| self.error(e, "writing a record"))?;
                Ok(Written::Created)
            }
            Err(e) => Err(self.error(e, "writing a record")),
        }
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
