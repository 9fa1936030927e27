//! `fetch` and `prepare` against the loopback hub ([`hub_server`](super::hub_server)). No test
//! touches the internet: the server binds 127.0.0.1 and `HF_ENDPOINT` points at it.
//!
//! One test function runs the scenarios in order, because the `HF_*` variables are process-wide.

use super::hub_server::{dead_endpoint, sha256, Mode, Server, REVISION};
use pipeline_engine::{Stage, StageContext};
use pipeline_stages::fetch::{Fetch, PinRecord};
use pipeline_stages::kind::stage;
use pipeline_stages::prepare::Prepare;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The stages as the engine runs them (parameters read from the context).
fn fetch() -> Arc<dyn Stage> {
    stage(Fetch).0
}

fn prepare() -> Arc<dyn Stage> {
    stage(Prepare).0
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
    fetch()
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
    let before = server.requests();
    let again = work.path().join("train2");
    fetch()
        .run(&context(
            "fetch/set/train",
            fetch_params("d/train.parquet", &train_hash),
            vec![],
            &again,
        ))
        .unwrap();
    assert_eq!(server.requests(), before, "served from the cache");
    assert_eq!(std::fs::read(again.join("train.parquet")).unwrap(), train);

    // Wrong recorded hash: a clear error naming repo, file and revision; the bad copy is removed.
    let wrong = "0".repeat(64);
    let out = work.path().join("wrong");
    let err = format!(
        "{:#}",
        fetch()
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
        fetch()
            .run(&context("fetch/x", fetch_params("d/nope.parquet", &wrong), vec![], &out))
            .unwrap_err()
    );
    assert!(
        err.contains("d/nope.parquet") && err.contains("org/set") && err.contains(REVISION),
        "{err}"
    );
    let first = err.lines().next().unwrap();
    assert!(
        first.contains("not found (HTTP 404") && first.contains("check the repository"),
        "{err}"
    );
    assert!(listing(&out).is_empty());

    // Server gone mid-transfer: an error, no artifact; the next run completes and verifies.
    server.set_mode(Mode::DieMidTransfer);
    let out_test = work.path().join("test");
    let err = fetch().run(&context(
        "fetch/set/test",
        fetch_params("d/test.parquet", &test_hash),
        vec![],
        &out_test,
    ));
    assert!(err.is_err(), "a truncated download must not pass");
    assert!(listing(&out_test).is_empty(), "nothing half-written: {:?}", listing(&out_test));
    server.set_mode(Mode::Serve);
    let out_test = work.path().join("test-again");
    fetch()
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
    fetch()
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
    prepare().run(&context("prepare/set", params, inputs, &prepared)).unwrap();
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
    fetch().run(&ctx).unwrap();
    let pin = pipeline_stages::fetch::PinRecord::read(&out).expect("pin.json");
    assert_eq!((pin.revision.as_str(), pin.blake3.as_str()), (REVISION, test_hash.as_str()));
    assert_eq!(pipeline_stages::fetch::fetched_file(&out).unwrap(), out.join("new.parquet"));
    let log = logged.lock().unwrap().clone();
    assert!(log.contains(&format!("revision: {REVISION}, test_blake3: {test_hash}")), "{log}");

    // Offline from a filled cache: with the hub gone, the unpinned file resolves through the
    // cache's refs/main, and the log says so.
    std::env::set_var("HF_ENDPOINT", dead_endpoint());
    let (out, logged) = (work.path().join("unpinned-offline"), Arc::new(Mutex::new(String::new())));
    fetch().run(&logging_context(&out, unpinned("d/new.parquet"), &logged)).unwrap();
    assert_eq!(PinRecord::read(&out).unwrap().revision, REVISION);
    let log = logged.lock().unwrap().clone();
    assert!(log.contains("could not be reached") && log.contains(REVISION), "{log}");
    // Gone, and the file is not cached: the first line says which file and that the hub is
    // unreachable, the next where to put it (the cache's real layout).
    let err = fetch_error(&work.path().join("gone"), unpinned("d/absent.parquet"));
    let first = err.lines().next().unwrap();
    assert!(first.contains("d/absent.parquet") && first.contains("could not be reached"), "{err}");
    assert!(err.contains("datasets--org--set/snapshots/<commit>") && err.contains("refs/main"));
    std::env::set_var("HF_ENDPOINT", &server.endpoint);

    // HF_HUB_OFFLINE=1: not one request; cached files work, a missing one is named.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let before = server.requests();
    let out = work.path().join("offline");
    fetch().run(&context("fetch/set/new", unpinned("d/new.parquet"), vec![], &out)).unwrap();
    let err = fetch_error(&work.path().join("offline-missing"), unpinned("d/other.parquet"));
    assert!(err.lines().next().unwrap().contains("HF_HUB_OFFLINE=1"), "{err}");
    assert!(err.contains("d/other.parquet"), "{err}");
    assert_eq!(server.requests(), before, "HF_HUB_OFFLINE=1 sent requests");
    std::env::remove_var("HF_HUB_OFFLINE");

    // Corrupted bytes of an unpinned file: refused, and nothing left in the cache or the output.
    let bad = b"bytes this cache has never seen".repeat(64);
    server.put("/datasets/org/set/resolve/main/d/bad.parquet", bad.clone());
    server.set_mode(Mode::Corrupt);
    let out = work.path().join("corrupt");
    let err = fetch_error(&out, unpinned("d/bad.parquet"));
    let first = err.lines().next().unwrap();
    assert!(first.contains("d/bad.parquet") && first.contains("content hash"), "{err}");
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
    let blobs = home.path().join("hub/datasets--org--set/blobs");
    assert!(
        !blobs.join(sha256(&bad)).exists()
            && !blobs.join(format!("{}.incomplete", sha256(&bad))).exists()
    );
    assert!(!home
        .path()
        .join("hub/datasets--org--set/snapshots")
        .join(REVISION)
        .join("d/bad.parquet")
        .exists());
    server.set_mode(Mode::Serve);

    // A hub that stalls after the headers: the download ends within the configured read
    // timeout (three attempts), with an error that says so; nothing recorded.
    std::env::set_var("HF_HUB_DOWNLOAD_TIMEOUT", "1");
    server.put("/datasets/org/set/resolve/main/d/slow.parquet", b"slow".repeat(1000));
    server.set_mode(Mode::Stall);
    let started = Instant::now();
    let out = work.path().join("stall");
    let err = fetch_error(&out, unpinned("d/slow.parquet"));
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    let first = err.lines().next().unwrap();
    assert!(first.contains("d/slow.parquet") && first.contains("stopped sending for 1 s"), "{err}");
    assert!(listing(&out).is_empty());
    server.set_mode(Mode::Serve);
    std::env::remove_var("HF_HUB_DOWNLOAD_TIMEOUT");
}

fn unpinned(file: &str) -> serde_json::Value {
    serde_json::json!({
        "repo": "org/set", "repo_type": "dataset", "revision": "unpinned", "file": file, "blake3": "unpinned"
    })
}

/// A fetch context whose log lines are kept in `logged`.
fn logging_context(
    out: &Path,
    params: serde_json::Value,
    logged: &Arc<Mutex<String>>,
) -> StageContext {
    std::fs::create_dir_all(out).unwrap();
    let sink = logged.clone();
    StageContext::new(
        "fetch/set/x".into(),
        params,
        vec![],
        out.to_path_buf(),
        1,
        Box::new(move |m: &str| sink.lock().unwrap().push_str(m)),
        Box::new(|_, _| {}),
    )
}

/// The error of a fetch that must fail, with its causes.
#[track_caller]
fn fetch_error(out: &Path, params: serde_json::Value) -> String {
    let err = fetch().run(&context("fetch/set/x", params, vec![], out)).unwrap_err();
    format!("{err:#}")
}
