//! `fetch` and `prepare` against a loopback HTTP server that speaks the part of the Hugging Face
//! hub's file-download protocol hf-hub relies on (`/{repo}/resolve/{revision}/{file}` with
//! `Range`, answered by `etag`, `x-repo-commit` and `content-range`). No test touches the
//! internet: the server binds 127.0.0.1 and `HF_ENDPOINT` points at it.
//!
//! One test function runs the scenarios in order, because `HF_ENDPOINT` and `HF_HOME` are
//! process-wide.

use pipeline_engine::{Stage, StageContext};
use pipeline_stages::fetch::Fetch;
use pipeline_stages::prepare::Prepare;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

/// How the server answers the next requests.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    /// Sends the headers and half the body of a download, then closes the connection.
    DieMidTransfer,
}

struct Server {
    endpoint: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let mode = Arc::new(Mutex::new(Mode::Serve));
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, m, r) = (files.clone(), mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                let _ = answer(stream, &f.lock().unwrap().clone(), *m.lock().unwrap());
            }
        });
        Server { endpoint, files, mode, requests }
    }

    fn put(&self, url_path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(url_path.to_string(), bytes);
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// One HTTP/1.1 exchange, then close (hf-hub's ureq client copes with `Connection: close`).
fn answer(
    mut stream: std::net::TcpStream,
    files: &HashMap<String, Vec<u8>>,
    mode: Mode,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range_start = 0usize;
    let mut range_end: Option<usize> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap();
            range_start = a.parse().unwrap();
            range_end = b.parse().ok();
        }
    }
    let Some(body) = files.get(&path) else {
        let msg = b"Entry not found";
        write!(stream, "HTTP/1.1 404 Not Found\r\nx-error-code: EntryNotFound\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", msg.len())?;
        return stream.write_all(msg);
    };
    let end = range_end.unwrap_or(body.len() - 1).min(body.len() - 1);
    let part = &body[range_start..=end];
    let etag = blake3::hash(body).to_hex();
    write!(
        stream,
        "HTTP/1.1 206 Partial Content\r\netag: \"{etag}\"\r\nx-repo-commit: {REVISION}\r\n\
         content-range: bytes {range_start}-{end}/{}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len(),
        part.len()
    )?;
    if mode == Mode::DieMidTransfer && part.len() > 1 {
        stream.write_all(&part[..part.len() / 2])?;
        return stream.shutdown(std::net::Shutdown::Both);
    }
    stream.write_all(part)
}

fn context(
    id: &str,
    params: serde_json::Value,
    inputs: Vec<(String, PathBuf)>,
    out: &Path,
) -> StageContext {
    std::fs::create_dir_all(out).unwrap();
    StageContext::new(
        id.into(),
        params,
        inputs,
        out.to_path_buf(),
        1,
        Box::new(|_| {}),
        Box::new(|_, _| {}),
    )
}

fn fetch_params(file: &str, blake3: &str) -> serde_json::Value {
    serde_json::json!({
        "repo": "org/set", "repo_type": "dataset", "revision": REVISION, "file": file, "blake3": blake3
    })
}

/// A hub-style image Parquet file: column `img` = {bytes: PNG, path}, column `label`.
fn parquet_fixture(n: usize, classes: usize) -> Vec<u8> {
    use polars::prelude::*;
    let pngs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let img = image::GrayImage::from_fn(4, 4, |x, y| {
                image::Luma([((x + y) as usize * 20 + i) as u8])
            });
            let mut buf = std::io::Cursor::new(Vec::new());
            image::DynamicImage::ImageLuma8(img)
                .write_to(&mut buf, image::ImageFormat::Png)
                .unwrap();
            buf.into_inner()
        })
        .collect();
    let bytes = Series::new("bytes".into(), pngs.iter().map(|b| b.as_slice()).collect::<Vec<_>>());
    let paths = Series::new("path".into(), (0..n).map(|i| format!("{i}.png")).collect::<Vec<_>>());
    let img =
        StructChunked::from_series("img".into(), n, [bytes, paths].iter()).unwrap().into_series();
    let labels =
        Series::new("label".into(), (0..n).map(|i| (i % classes) as i64).collect::<Vec<_>>());
    let mut df = DataFrame::new(n, vec![img.into(), labels.into()]).unwrap();
    let mut out = Vec::new();
    ParquetWriter::new(&mut out).finish(&mut df).unwrap();
    out
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn fetch_and_prepare_through_a_loopback_hub() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("HF_ENDPOINT", &server.endpoint);
    std::env::set_var("HF_HOME", home.path());
    std::env::remove_var("HF_HUB_CACHE");
    std::env::remove_var("HF_TOKEN");
    let work = tempfile::tempdir().unwrap();

    let train = parquet_fixture(12, 3);
    let test = parquet_fixture(6, 3);
    let (train_hash, test_hash) =
        (blake3::hash(&train).to_hex().to_string(), blake3::hash(&test).to_hex().to_string());
    let url = |f: &str| format!("/datasets/org/set/resolve/{REVISION}/{f}");
    server.put(&url("d/train.parquet"), train.clone());
    server.put(&url("d/test.parquet"), test.clone());

    // First download: verified bytes land in the artifact and in the local cache.
    let out_train = work.path().join("train");
    Fetch
        .run(&context(
            "fetch/set/train",
            fetch_params("d/train.parquet", &train_hash),
            vec![],
            &out_train,
        ))
        .unwrap();
    assert_eq!(std::fs::read(out_train.join("train.parquet")).unwrap(), train);
    let snapshot =
        home.path().join("hub/datasets--org--set/snapshots").join(REVISION).join("d/train.parquet");
    assert!(snapshot.exists(), "the file is in the hub cache layout");

    // Cache hit: no request reaches the server.
    let before = server.requests.load(Ordering::SeqCst);
    let again = work.path().join("train2");
    Fetch
        .run(&context(
            "fetch/set/train",
            fetch_params("d/train.parquet", &train_hash),
            vec![],
            &again,
        ))
        .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), before, "served from the cache");
    assert_eq!(std::fs::read(again.join("train.parquet")).unwrap(), train);

    // Wrong recorded hash: a clear error naming repo, file and revision; the bad copy is removed.
    let wrong = "0".repeat(64);
    let out = work.path().join("wrong");
    let err = format!(
        "{:#}",
        Fetch
            .run(&context("fetch/x", fetch_params("d/train.parquet", &wrong), vec![], &out))
            .unwrap_err()
    );
    assert!(
        err.contains("d/train.parquet") && err.contains(REVISION) && err.contains("org/set"),
        "{err}"
    );
    assert!(err.contains("blake3"), "{err}");
    assert!(listing(&out).is_empty(), "nothing written: {:?}", listing(&out));
    assert!(!snapshot.exists(), "the mismatching cached copy is gone");

    // 404: names the file and says how to supply it offline.
    let out = work.path().join("missing");
    let err = format!(
        "{:#}",
        Fetch
            .run(&context("fetch/x", fetch_params("d/nope.parquet", &wrong), vec![], &out))
            .unwrap_err()
    );
    assert!(
        err.contains("d/nope.parquet") && err.contains("org/set") && err.contains(REVISION),
        "{err}"
    );
    assert!(err.contains("offline") && err.contains("snapshots"), "{err}");
    assert!(listing(&out).is_empty());

    // Server gone mid-transfer: an error, no artifact; the next run completes and verifies.
    server.set_mode(Mode::DieMidTransfer);
    let out_test = work.path().join("test");
    let err = Fetch.run(&context(
        "fetch/set/test",
        fetch_params("d/test.parquet", &test_hash),
        vec![],
        &out_test,
    ));
    assert!(err.is_err(), "a truncated download must not pass");
    assert!(listing(&out_test).is_empty(), "nothing half-written: {:?}", listing(&out_test));
    server.set_mode(Mode::Serve);
    let out_test = work.path().join("test-again");
    Fetch
        .run(&context(
            "fetch/set/test",
            fetch_params("d/test.parquet", &test_hash),
            vec![],
            &out_test,
        ))
        .unwrap();
    assert_eq!(std::fs::read(out_test.join("test.parquet")).unwrap(), test);

    // Re-fetch train (its cached copy was removed above), then prepare decodes both splits.
    let out_train = work.path().join("train3");
    Fetch
        .run(&context(
            "fetch/set/train",
            fetch_params("d/train.parquet", &train_hash),
            vec![],
            &out_train,
        ))
        .unwrap();
    let prepared = work.path().join("prepared");
    let params = serde_json::json!({"parquet": {"image_column": "img", "label_column": "label", "classes": 3}});
    let inputs =
        vec![("train".to_string(), out_train.clone()), ("test".to_string(), out_test.clone())];
    Prepare.run(&context("prepare/set", params, inputs, &prepared)).unwrap();
    let train_set = pipeline_stages::data::Dataset::load(&prepared.join("train")).unwrap();
    let test_set = pipeline_stages::data::Dataset::load(&prepared.join("test")).unwrap();
    assert_eq!(
        (train_set.len(), test_set.len(), train_set.channels, train_set.height),
        (12, 6, 1, 4)
    );
    assert_eq!(train_set.labels, (0..12).map(|i| i % 3).collect::<Vec<u32>>());
    assert_eq!(train_set.image(5)[0], 5, "pixel (0,0) of image 5 as encoded");

    // Unpinned revision and hash: fetched from `main`, nothing verified, the resolved commit and
    // the file's hash recorded in pin.json and the log, with the lines to paste.
    server.put("/datasets/org/set/resolve/main/d/new.parquet", test.clone());
    let logged = Arc::new(Mutex::new(String::new()));
    let sink = logged.clone();
    let out = work.path().join("unpinned");
    std::fs::create_dir_all(&out).unwrap();
    let params = serde_json::json!({
        "repo": "org/set", "repo_type": "dataset", "revision": "unpinned", "file": "d/new.parquet", "blake3": "unpinned"
    });
    let ctx = StageContext::new(
        "fetch/set/test".into(),
        params,
        vec![],
        out.clone(),
        1,
        Box::new(move |m: &str| sink.lock().unwrap().push_str(m)),
        Box::new(|_, _| {}),
    );
    Fetch.run(&ctx).unwrap();
    let pin = pipeline_stages::fetch::PinRecord::read(&out).expect("pin.json");
    assert_eq!((pin.revision.as_str(), pin.blake3.as_str()), (REVISION, test_hash.as_str()));
    assert_eq!(pipeline_stages::fetch::fetched_file(&out).unwrap(), out.join("new.parquet"));
    let log = logged.lock().unwrap().clone();
    assert!(log.contains(&format!("revision: {REVISION}, test_blake3: {test_hash}")), "{log}");
}
