//! `pipeline push`, `pull`, `status` and `run --remote` against real S3 servers on loopback:
//! SeaweedFS (`weed server -s3`) and rclone's `serve s3` (which ignores conditional writes),
//! both from PyPI (tests/s3/install.sh), started and stopped here, plus a fault-injecting
//! proxy (tests/s3/proxy.rs), on the smoke profile. It has its own `main` (harness = false) so
//! that one pair of servers and one local build serve every scenario; each scenario uses its
//! own prefix of the bucket and reports like a libtest test.

mod common;
#[path = "s3/proxy.rs"]
mod proxy;
#[path = "s3/servers.rs"]
mod servers;

use common::*;
use proxy::{Fault, Proxy};
use servers::{Rclone, Seaweed, Tools, ACCESS_KEY, BUCKET, SECRET_KEY, WEED_PORTS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RCLONE_PORT: u16 = 18433;

/// Everything the scenarios share.
struct World {
    /// Behind a lock so that a scenario can kill and restart it.
    seaweed: std::sync::Mutex<Seaweed>,
    rclone: Rclone,
    /// A project whose smoke profile is built (no remote involved): its store is what the
    /// scenarios push, its reports what every pull or run must reproduce.
    golden: tempfile::TempDir,
    _scratch: tempfile::TempDir,
}

/// A project with the repository's study and a top-level `remote:` block for `port` and
/// `prefix` (plus `extra` lines inside the block); its store empty, or a copy of `store`.
fn remote_project(port: u16, prefix: &str, extra: &str, store: Option<&Path>) -> tempfile::TempDir {
    let p = project();
    let path = p.path().join("pipeline.yaml");
    let mut study = std::fs::read_to_string(&path).unwrap();
    study.push_str(&format!(
        "\nremote:\n  url: s3://{BUCKET}/{prefix}\n  endpoint: http://127.0.0.1:{port}\n  \
         timeout_seconds: 2\n"
    ));
    for line in extra.lines() {
        study.push_str(&format!("  {line}\n"));
    }
    std::fs::write(&path, study).unwrap();
    if let Some(store) = store {
        let out = Command::new("cp")
            .arg("-a")
            .arg(store)
            .arg(p.path().join("artifacts"))
            .output()
            .unwrap();
        assert!(out.status.success(), "copying the store: {}", text(&out));
    }
    p
}

/// `pipeline` in `dir` on the smoke profile with the test identity's keys and no AWS files.
fn aws(dir: &Path, args: &[&str]) -> Command {
    let mut c = command(dir, args);
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
    ] {
        c.env_remove(var);
    }
    c.env("HOME", dir)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    c
}

fn out(mut c: Command) -> Output {
    c.output().unwrap()
}

/// The summary `push --json` or `pull --json` printed.
fn summary(o: &Output) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}): {}", text(o)));
    json["summary"].clone()
}

fn count(summary: &serde_json::Value, field: &str) -> usize {
    match &summary[field] {
        serde_json::Value::Array(a) => a.len(),
        v => v.as_u64().unwrap_or_else(|| panic!("{field} in {summary}")) as usize,
    }
}

/// The nodes of the smoke profile's reports (what push and pull move).
fn closure_size(dir: &Path) -> usize {
    let o = pipeline(dir, &["status", "--json", "--no-remote"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    json["status"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            ["up_to_date", "stale", "missing", "queued", "running", "failed"]
                .iter()
                .map(|f| k[*f].as_u64().unwrap() as usize)
                .sum::<usize>()
        })
        .sum()
}

/// The project's reports are the golden project's, byte for byte.
fn assert_same_reports(world: &World, dir: &Path) {
    let (ours, golden) = (report_files(dir), report_files(world.golden.path()));
    assert_eq!(ours.keys().collect::<Vec<_>>(), golden.keys().collect::<Vec<_>>());
    for (name, bytes) in &golden {
        assert!(ours[name] == *bytes, "reports/smoke/{name} differs from the local build's");
    }
}

fn report_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join(REPORTS)).unwrap() {
        let entry = entry.unwrap();
        files.insert(
            entry.file_name().to_string_lossy().into_owned(),
            std::fs::read(entry.path()).unwrap(),
        );
    }
    files
}

/// Nothing half-written in the store: no temporary directory left, and every artifact whole.
fn assert_store_clean(dir: &Path) {
    let tmp = dir.join("artifacts/tmp");
    if tmp.exists() {
        let left: Vec<_> =
            std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "left in artifacts/tmp: {left:?}");
    }
    for entry in std::fs::read_dir(dir.join("artifacts/objects")).into_iter().flatten() {
        let entry = entry.unwrap();
        assert!(
            entry.path().join(".meta.json").is_file(),
            "{} has no metadata",
            entry.path().display()
        );
    }
}

/// Every record on the remote at `prefix` points at a complete pack: a pull of everything
/// into an empty store fails nowhere.
fn assert_remote_consistent(port: u16, prefix: &str) {
    let p = remote_project(port, prefix, "", None);
    let o = out(aws(p.path(), &["pull", "--json", "--quiet"]));
    let s = summary(&o);
    assert_eq!(count(&s, "failed"), 0, "a record points at missing or damaged data: {}", text(&o));
    assert_store_clean(p.path());
}

fn push(dir: &Path) -> serde_json::Value {
    let o = out(aws(dir, &["push", "--json", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "push: {}", text(&o));
    summary(&o)
}

/// Push the golden store to `prefix` of the server on `port`.
fn seed(world: &World, port: u16, prefix: &str) {
    let a = remote_project(port, prefix, "", Some(&world.golden.path().join("artifacts")));
    let s = push(a.path());
    assert_eq!(count(&s, "failed"), 0);
}

// ---- scenarios ----

fn push_and_pull_through_seaweedfs_reproduce_the_reports(world: &World) {
    let port = WEED_PORTS[0];
    let a = remote_project(port, "roundtrip", "", Some(&world.golden.path().join("artifacts")));
    let n = closure_size(a.path());
    let s = push(a.path());
    assert_eq!((count(&s, "moved"), count(&s, "already"), count(&s, "absent")), (n, 0, 0), "{s}");
    let started = Instant::now();
    let s = push(a.path());
    println!("  a warm push of {n} artifacts took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!((count(&s, "moved"), count(&s, "already")), (0, n), "{s}");

    let b = remote_project(port, "roundtrip", "", None);
    let status = out(aws(b.path(), &["status"]));
    assert_eq!(status.status.code(), Some(1));
    assert!(text(&status).contains(&format!("holds {n} of them")), "{}", text(&status));
    let o = out(aws(b.path(), &["pull", "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = summary(&o);
    assert_eq!((count(&s, "moved"), count(&s, "failed")), (n, 0), "{s}");
    assert!(count(&s, "bytes") > 0);
    let status = out(aws(b.path(), &["status"]));
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let o = out(aws(b.path(), &["run", "--json"]));
    assert_eq!(outcomes(&o).keys().collect::<Vec<_>>(), ["cached"], "{}", text(&o));
    assert_same_reports(world, b.path());
    assert_store_clean(b.path());

    // `run --remote TARGET` into an empty store pulls everything and builds nothing.
    let c = remote_project(port, "roundtrip", "", None);
    let o = out(aws(c.path(), &["run", "--json", "--remote", "render"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(outcomes(&o).keys().collect::<Vec<_>>(), ["pulled"], "{}", text(&o));
    assert_same_reports(world, c.path());
}

fn a_run_pushes_what_it_built_and_a_read_only_remote_takes_nothing(world: &World) {
    let port = WEED_PORTS[0];
    let ro = remote_project(port, "built-here", "read_only: true", None);
    let o = out(aws(ro.path(), &["push"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("read-only"), "{}", text(&o));
    let o = out(aws(ro.path(), &["run", "--json", "--remote"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!ran(&o).is_empty());
    assert_remote_holds(port, "built-here", 0);

    let a = remote_project(port, "built-here", "", None);
    let o = out(aws(a.path(), &["run", "--json", "--remote"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let built = ran(&o).len();
    assert!(text(&o).contains(&format!("pushed {built} artifact(s)")), "{}", text(&o));
    assert_same_reports(world, a.path());
    assert_remote_holds(port, "built-here", built);
}

/// The remote at `prefix` holds `n` artifacts (as a pull into an empty store counts them).
fn assert_remote_holds(port: u16, prefix: &str, n: usize) {
    let p = remote_project(port, prefix, "", None);
    let s = summary(&out(aws(p.path(), &["pull", "--json", "--quiet"])));
    assert_eq!(count(&s, "moved"), n, "{s}");
}

/// Two machines push the same artifacts at once: every key ends with one consistent entry.
fn racing_pushers(world: &World, port: u16, prefix: &str) {
    let golden = world.golden.path().join("artifacts");
    let (a, b) = (
        remote_project(port, prefix, "", Some(&golden)),
        remote_project(port, prefix, "", Some(&golden)),
    );
    let spawn = |dir: &Path| {
        aws(dir, &["push", "--json", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (pa, pb) = (spawn(a.path()), spawn(b.path()));
    for p in [pa, pb] {
        let o = p.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "a racing push: {}", text(&o));
        assert_eq!(count(&summary(&o), "conflicts"), 0);
    }
    let c = remote_project(port, prefix, "", None);
    let o = out(aws(c.path(), &["pull", "--json", "--quiet"]));
    let s = summary(&o);
    assert_eq!(
        (count(&s, "moved"), count(&s, "failed"), count(&s, "conflicts")),
        (closure_size(c.path()), 0, 0),
        "{s}"
    );
    let o = out(aws(c.path(), &["run", "--json"]));
    assert_eq!(outcomes(&o).keys().collect::<Vec<_>>(), ["cached"]);
    assert_same_reports(world, c.path());
}

fn racing_pushers_on_seaweedfs_leave_one_entry(world: &World) {
    racing_pushers(world, WEED_PORTS[0], "race");
}

fn a_server_without_conditional_writes_is_as_correct(world: &World) {
    racing_pushers(world, RCLONE_PORT, "race");
}

fn a_cut_or_killed_push_leaves_no_record_without_its_data(world: &World) {
    let proxy = Proxy::start(WEED_PORTS[0]);
    let golden = world.golden.path().join("artifacts");
    let a = remote_project(proxy.port, "cut-push", "", Some(&golden));
    proxy.set(Fault::CutUpload(2000));
    let o = out(aws(a.path(), &["push", "--json", "--quiet"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = summary(&o);
    assert!(count(&s, "failed") > 0 && count(&s, "moved") > 0, "{s}");
    proxy.set(Fault::None);
    assert_remote_consistent(WEED_PORTS[0], "cut-push");

    // Killed (SIGKILL) while packs trickle up, some of them mid-body, then run again: it
    // resumes and completes.
    let b = remote_project(proxy.port, "killed-push", "", Some(&golden));
    proxy.set(Fault::Trickle);
    let mut child = aws(b.path(), &["push", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the push ended before it was killed");
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.set(Fault::None);
    assert_remote_consistent(WEED_PORTS[0], "killed-push");
    let b = remote_project(WEED_PORTS[0], "killed-push", "", Some(&golden));
    let s = push(b.path());
    assert_eq!(count(&s, "failed"), 0, "{s}");
    assert!(count(&s, "already") > 0, "the killed push stored nothing: {s}");
    assert_remote_holds(WEED_PORTS[0], "killed-push", closure_size(b.path()));
}

fn a_damaged_download_is_discarded_and_the_node_built(world: &World) {
    seed(world, WEED_PORTS[0], "faults");
    let proxy = Proxy::start(WEED_PORTS[0]);
    for fault in [Fault::CutDownload(100), Fault::Flip(10)] {
        proxy.set(fault);
        let p = remote_project(proxy.port, "faults", "", None);
        let o = out(aws(p.path(), &["pull", "--json", "--quiet"]));
        assert_eq!(o.status.code(), Some(1), "{fault:?}: {}", text(&o));
        let s = summary(&o);
        assert!(count(&s, "failed") > 0, "{fault:?}: {s}");
        for failure in s["failed"].as_array().unwrap() {
            assert!(!failure[1].as_str().unwrap().contains('\n'), "one line: {failure}");
        }
        assert_store_clean(p.path());
        let o = out(aws(p.path(), &["run", "--json", "--remote=pull"]));
        assert_eq!(o.status.code(), Some(0), "{fault:?}: {}", text(&o));
        assert!(!ran(&o).is_empty(), "{fault:?}: the damaged nodes are built");
        assert!(text(&o).contains("warning: pulling"), "{fault:?}: {}", text(&o));
        assert_same_reports(world, p.path());
        assert_store_clean(p.path());
    }
    proxy.set(Fault::None);
}

fn a_stalled_refused_or_killed_remote_costs_a_warning_and_a_local_build(world: &World) {
    seed(world, WEED_PORTS[0], "stall");
    let proxy = Proxy::start(WEED_PORTS[0]);
    proxy.set(Fault::Stall);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for (port, what) in [(proxy.port, "stalled"), (free, "refused")] {
        let p = remote_project(port, "stall", "", None);
        let started = Instant::now();
        let o = out(aws(p.path(), &["pull"]));
        let waited = started.elapsed().as_secs_f64();
        println!("  pull from a {what} remote gave up after {waited:.1} s");
        assert_eq!(o.status.code(), Some(2), "{what}: {}", text(&o));
        // timeout_seconds is 2: a request and its retries within two timeouts, and slack.
        assert!(waited < 15.0, "{what}: waited {waited:.1} s");
        let o = out(aws(p.path(), &["run", "--json", "--remote"]));
        assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
        assert_eq!(
            text(&o).matches("warning: the remote is unavailable").count(),
            1,
            "{}",
            text(&o)
        );
        assert_same_reports(world, p.path());
        let status = out(aws(p.path(), &["status"]));
        assert_eq!(
            status.status.code(),
            Some(0),
            "{what}: status still answers: {}",
            text(&status)
        );
    }
    proxy.set(Fault::None);
}

/// A remote that answers the listing and then stalls on every pack: the run gives up on it
/// after a few timeouts (one warning), builds locally, and its reports are the local build's.
fn a_remote_that_stalls_after_answering_is_given_up(world: &World) {
    seed(world, WEED_PORTS[0], "stall-later");
    let proxy = Proxy::start(WEED_PORTS[0]);
    proxy.set(Fault::StallPacks);
    let p = remote_project(proxy.port, "stall-later", "", None);
    let started = Instant::now();
    let o = out(aws(p.path(), &["run", "--json", "--remote"]));
    println!("  run --remote with stalled packs took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let warned = String::from_utf8_lossy(&o.stderr).matches("this run goes on without it").count();
    assert_eq!(warned, 1, "{}", text(&o));
    assert!(!ran(&o).is_empty());
    assert_same_reports(world, p.path());
    assert_store_clean(p.path());
    proxy.set(Fault::None);
}

fn a_server_killed_and_restarted(world: &World) {
    seed(world, WEED_PORTS[0], "restart");
    let p = remote_project(WEED_PORTS[0], "restart", "", None);
    // The world's server, killed as in a crash and started again on its data.
    let mut seaweed = world.seaweed.lock().unwrap_or_else(|e| e.into_inner());
    seaweed.kill();
    let o = out(aws(p.path(), &["pull"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    seaweed.up();
    drop(seaweed);
    let o = out(aws(p.path(), &["pull", "--json", "--quiet"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(count(&summary(&o), "moved"), closure_size(p.path()));
}

fn tampered_packs_and_records_are_rejected(world: &World) {
    seed(world, RCLONE_PORT, "tamper");
    let root = world.rclone.root.join(BUCKET).join("tamper");
    let mut records: Vec<PathBuf> = std::fs::read_dir(root.join("records"))
        .unwrap()
        .flat_map(|k| std::fs::read_dir(k.unwrap().path()).unwrap().map(|r| r.unwrap().path()))
        .collect();
    records.sort();
    // A record whose first file would be written outside the store.
    let record = &records[0];
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    json["files"][0]["path"] = "../../escaped".into();
    std::fs::write(record, serde_json::to_vec(&json).unwrap()).unwrap();
    // A pack with one byte changed, of another artifact with a non-empty pack.
    let other = records[1..]
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(&std::fs::read(r).unwrap()).unwrap())
        .find(|m| m["files"].as_array().unwrap().iter().any(|f| f["size"].as_u64().unwrap() > 0))
        .unwrap();
    let pack = root.join("packs").join(other["content_hash"].as_str().unwrap());
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&pack, bytes).unwrap();

    let p = remote_project(RCLONE_PORT, "tamper", "", None);
    let o = out(aws(p.path(), &["pull", "--json", "--quiet"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let failed = summary(&o)["failed"].to_string();
    assert!(failed.contains("not a file inside an artifact"), "{failed}");
    assert!(failed.contains("does not match its recorded blake3"), "{failed}");
    assert!(!p.path().join("escaped").exists() && !p.path().join("artifacts/escaped").exists());
    assert_store_clean(p.path());
    let o = out(aws(p.path(), &["run", "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_same_reports(world, p.path());
}

fn a_different_remote_result_is_reported_by_node(world: &World) {
    seed(world, RCLONE_PORT, "conflict");
    // A second record for one key, as another machine's nondeterministic build would leave.
    let records = world.rclone.root.join(BUCKET).join("conflict/records");
    let key = std::fs::read_dir(&records).unwrap().next().unwrap().unwrap().path();
    let record = std::fs::read_dir(&key).unwrap().next().unwrap().unwrap().path();
    let fake = "0".repeat(64);
    std::fs::copy(&record, key.join(format!("{fake}.json"))).unwrap();
    std::thread::sleep(Duration::from_millis(1500)); // rclone's listing cache (above)

    let a =
        remote_project(RCLONE_PORT, "conflict", "", Some(&world.golden.path().join("artifacts")));
    let o = out(aws(a.path(), &["push", "--json", "--quiet"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let conflicts = summary(&o)["conflicts"].clone();
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
    assert!(conflicts.to_string().contains(&fake), "{conflicts}");
    let b = remote_project(RCLONE_PORT, "conflict", "", None);
    let status = text(&out(aws(b.path(), &["status", "--json"])));
    assert!(status.contains("the remote holds 2 different results"), "{status}");
    let o = out(aws(b.path(), &["pull", "--json", "--quiet"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(count(&summary(&o), "conflicts"), 1);
    let _ = world;
}

fn bad_credentials_a_missing_bucket_or_no_server_are_clear(world: &World) {
    let port = WEED_PORTS[0];
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases: [(&str, u16, &str, &str); 4] = [
        ("wrong secret", port, "creds", "credentials were refused"),
        ("missing bucket", port, "nosuch", "the bucket `nosuchbucket` does not exist"),
        ("no server", free, "x", "127.0.0.1"),
        ("no credentials", port, "creds", "no AWS credentials"),
    ];
    for (what, port, prefix, says) in cases {
        let p = remote_project(port, prefix, "", None);
        if what == "missing bucket" {
            let path = p.path().join("pipeline.yaml");
            let study = std::fs::read_to_string(&path)
                .unwrap()
                .replace("s3://cache/nosuch", "s3://nosuchbucket/x");
            std::fs::write(&path, study).unwrap();
        }
        let with = |args: &[&str]| {
            let mut c = aws(p.path(), args);
            match what {
                "wrong secret" => {
                    c.env("AWS_SECRET_ACCESS_KEY", "wrong");
                }
                "no credentials" => {
                    c.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
                }
                _ => {}
            }
            out(c)
        };
        for command in [&["pull"][..], &["push"]] {
            let o = with(command);
            assert_eq!(o.status.code(), Some(2), "{what}, {command:?}: {}", text(&o));
            let error = String::from_utf8_lossy(&o.stderr);
            assert!(error.contains(says), "{what}, {command:?}: {error}");
        }
        let o = with(&["run", "--json", "--remote"]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
        assert!(text(&o).contains("warning:"), "{what}: {}", text(&o));
        assert_same_reports(world, p.path());
    }
}

fn main() {
    macro_rules! scenarios {
        ($($f:ident),* $(,)?) => { &[$((stringify!($f), $f as fn(&World))),*] };
    }
    let scenarios: &[Scenario<World>] = scenarios![
        push_and_pull_through_seaweedfs_reproduce_the_reports,
        a_run_pushes_what_it_built_and_a_read_only_remote_takes_nothing,
        racing_pushers_on_seaweedfs_leave_one_entry,
        a_server_without_conditional_writes_is_as_correct,
        a_cut_or_killed_push_leaves_no_record_without_its_data,
        a_damaged_download_is_discarded_and_the_node_built,
        a_stalled_refused_or_killed_remote_costs_a_warning_and_a_local_build,
        a_remote_that_stalls_after_answering_is_given_up,
        a_server_killed_and_restarted,
        tampered_packs_and_records_are_rejected,
        a_different_remote_result_is_reported_by_node,
        bad_credentials_a_missing_bucket_or_no_server_are_clear,
    ];
    run_scenarios("real S3 servers", scenarios, || {
        let tools = Tools::get();
        let scratch = tempfile::tempdir().unwrap();
        let golden = project();
        let built = run(golden.path(), &[]);
        assert!(built.status.success(), "the local build: {}", text(&built));
        World {
            seaweed: std::sync::Mutex::new(Seaweed::start(&tools, &scratch.path().join("seaweed"))),
            rclone: Rclone::start(&tools, &scratch.path().join("rclone"), RCLONE_PORT),
            golden,
            _scratch: scratch,
        }
    });
}
