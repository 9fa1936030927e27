//! The `pipeline` binary end to end on the `smoke` profile, in temporary projects: cold and warm
//! runs, targets, parameter edits, status, a killed run, a corrupted artifact, concurrent runs
//! and bad input. Assertions are on what the engine reports (counts, ids, exit codes) and on
//! bytes, never on timings.

mod common;
// The stages' loopback Hugging Face hub, for `pipeline pin`.
#[path = "../stages/tests/integration/hub_server.rs"]
mod hub_server;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn a_cold_run_builds_every_report_and_a_warm_run_executes_nothing_and_changes_no_byte() {
    let p = project();
    let cold = run(p.path(), &[]);
    assert_eq!(cold.status.code(), Some(0), "{}", text(&cold));
    assert_eq!(ran(&cold).len(), node_count(p.path()), "every node ran once");
    let before = reports(p.path());
    for f in [
        "table5.md",
        "table5.csv",
        "table3.md",
        "figure2.svg",
        "figure3.svg",
        "figure4.svg",
        "figure5.svg",
        "figure10.svg",
        "figure1.svg",
        "README.md",
        "pipeline.lock",
    ] {
        assert!(before.contains_key(f), "reports/{f} missing; have {:?}", before.keys());
    }
    let table5 = String::from_utf8_lossy(&before["table5.md"]).to_string();
    assert!(table5.contains("not comparable to the paper"), "{table5}");

    let status = pipeline(p.path(), &["status"]);
    assert_eq!(status.status.code(), Some(0), "up to date: {}", text(&status));

    let warm = run(p.path(), &[]);
    assert_eq!(warm.status.code(), Some(0), "{}", text(&warm));
    assert!(ran(&warm).is_empty(), "a warm run ran {:?}", ran(&warm));
    assert_eq!(reports(p.path()), before, "reports/ is byte-identical");
}

#[test]
fn a_report_target_builds_that_report_and_its_inputs_only() {
    let p = project();
    let out = run(p.path(), &["reports/smoke/table3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let k = kinds(&ran(&out));
    assert_eq!(
        k,
        BTreeMap::from([("prepare".into(), 1), ("pretrain".into(), 4), ("render".into(), 1)]),
        "{}",
        text(&out)
    );
    assert!(p.path().join("reports/smoke/table3.md").exists());
    assert!(!p.path().join("reports/smoke/table5.md").exists(), "table5 was not asked for");
}

#[test]
fn editing_a_finetune_parameter_reruns_only_the_cells_and_what_depends_on_them() {
    let p = project();
    assert!(run(p.path(), &[]).status.success());
    let yaml = p.path().join("pipeline.yaml");
    let text0 = std::fs::read_to_string(&yaml).unwrap();
    // The smoke profile's own fine-tuning block: change its weight decay.
    let smoke = text0.find("  smoke:").unwrap();
    let at = smoke + text0[smoke..].find("    finetune:").unwrap();
    let wd = at + text0[at..].find("weight_decay: 5.0e-4").unwrap();
    let edited = format!(
        "{}weight_decay: 1.0e-3{}",
        &text0[..wd],
        &text0[wd + "weight_decay: 5.0e-4".len()..]
    );
    std::fs::write(&yaml, edited).unwrap();

    let status = pipeline(p.path(), &["status", "--json"]);
    assert_eq!(status.status.code(), Some(1), "work remains: {}", text(&status));
    let human = text(&pipeline(p.path(), &["status"]));
    assert!(human.contains("weight_decay"), "status says which parameter changed: {human}");

    let out = run(p.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let k = kinds(&ran(&out));
    assert_eq!(k.get("finetune"), Some(&48), "{k:?}");
    assert_eq!(k.get("aggregate"), Some(&2), "{k:?}");
    for reused in ["prepare", "pretrain", "subset"] {
        assert_eq!(k.get(reused), None, "{reused} must be reused: {k:?}");
    }
}

/// Adds a third smoke dataset whose local file is not a CIFAR batch: its `prepare` fails.
fn add_broken_dataset(dir: &Path) {
    std::fs::write(dir.join("broken.bin"), b"not a CIFAR batch").unwrap();
    let yaml = dir.join("pipeline.yaml");
    let text0 = std::fs::read_to_string(&yaml).unwrap();
    let smoke = text0.find("  smoke:").unwrap();
    let (head, tail) = text0.split_at(smoke);
    let tail = tail
        .replacen(
            "    pretrain:\n",
            "      - { name: broken, label: Broken, local: { format: cifar, train: broken.bin, test: broken.bin, classes: 10 } }\n    pretrain:\n",
            1,
        )
        .replacen("datasets: [cifar10, mnist]", "datasets: [cifar10, mnist, broken]", 1);
    std::fs::write(&yaml, format!("{head}{tail}")).unwrap();
}

#[test]
fn a_failed_dataset_leaves_gaps_in_the_reports_and_the_rest_is_built() {
    let p = project();
    add_broken_dataset(p.path());

    let out = run(p.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "a failed node fails the run: {}", text(&out));
    let by = outcomes(&out);
    assert_eq!(by.get("failed"), Some(&vec!["prepare/broken".to_string()]), "{}", text(&out));
    let blocked = kinds(by.get("blocked").unwrap());
    assert_eq!(blocked.get("finetune"), Some(&(4 * 2 * 3)), "{blocked:?}");
    assert_eq!(blocked.get("aggregate"), None, "the aggregates run on the cells that exist");
    let built = kinds(&ran(&out));
    assert_eq!(built.get("finetune"), Some(&(4 * 2 * 3 * 2)), "{built:?}");
    let listing = text(&pipeline(p.path(), &["list"]));
    let renders: usize = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix("render  (")?.strip_suffix(" node(s))")?.parse().ok())
        .expect("a render line in `pipeline list`");
    assert_eq!(built.get("render"), Some(&renders), "every report renders: {built:?}");
    let table4 = std::fs::read_to_string(p.path().join("reports/smoke/table4.md")).unwrap();
    assert!(table4.lines().any(|l| l.starts_with("| Broken | — (not prepared")), "{table4}");

    let table5 = std::fs::read_to_string(p.path().join("reports/smoke/table5.md")).unwrap();
    let rows: Vec<&str> = table5.lines().filter(|l| l.starts_with("| Broken")).collect();
    assert_eq!(rows.len(), 2, "{table5}");
    for row in rows {
        assert_eq!(row.matches("| — ").count(), 4, "every source is a gap: {row}");
    }
    assert!(table5.lines().any(|l| l.starts_with("| MNIST") && !l.contains('—')), "{table5}");
    let status = text(&pipeline(p.path(), &["status"]));
    assert!(status.contains("prepare/broken") && status.contains("failed"), "{status}");
}

/// TF32 is a GPU's: on the CPU the nodes that name it fail, saying what to do, and leave no
/// artifact; what does not depend on them is built.
#[test]
fn a_precision_the_cpu_cannot_compute_fails_its_nodes_with_what_to_do() {
    let p = project();
    let yaml = p.path().join("pipeline.yaml");
    let text0 = std::fs::read_to_string(&yaml).unwrap();
    let smoke = text0.find("  smoke:").unwrap();
    let (head, tail) = text0.split_at(smoke);
    let tail = tail.replacen("    pretrain:\n", "    pretrain:\n      precision: tf32\n", 1);
    std::fs::write(&yaml, format!("{head}{tail}")).unwrap();

    let out = run(p.path(), &["reports/smoke/table3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let by = outcomes(&out);
    let failed = by.get("failed").cloned().unwrap_or_default();
    assert_eq!(kinds(&failed), BTreeMap::from([("pretrain".into(), 4)]), "{}", text(&out));
    assert_eq!(kinds(&ran(&out)), BTreeMap::from([("prepare".into(), 1)]), "{}", text(&out));
    let says = "precision tf32 is computed on a GPU only, and this network is on the CPU";
    assert!(text(&out).contains(says), "{}", text(&out));
    assert!(!p.path().join("reports/smoke/table3.md").exists());
}

#[test]
fn a_run_killed_mid_stage_resumes_and_ends_like_an_uninterrupted_run() {
    let whole = project();
    assert!(run(whole.path(), &[]).status.success());

    let p = project();
    let mut child = command(p.path(), &["run", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill (SIGKILL) once some fine-tuning cells are done, i.e. in the middle of the grid.
    let records = p.path().join("artifacts/nodes/smoke");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done = std::fs::read_dir(&records)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("finetune"))
                    .count()
            })
            .unwrap_or(0);
        if done >= 5 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let resumed = run(p.path(), &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    let o = outcomes(&resumed);
    assert!(
        o.get("cached").is_some_and(|c| c.iter().any(|id| id.starts_with("finetune/"))),
        "finished cells are reused"
    );
    let leftovers =
        std::fs::read_dir(p.path().join("artifacts/tmp")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "no temporary output survives");
    let (a, b) = (reports(whole.path()), reports(p.path()));
    for name in a.keys().filter(|n| *n != "pipeline.lock") {
        assert_eq!(a[name], b[name], "reports/{name} differs from the uninterrupted run");
    }
}

#[test]
fn a_corrupted_artifact_is_detected_by_its_hash_and_recomputed() {
    let p = project();
    assert!(run(p.path(), &["reports/smoke/table3"]).status.success());
    // The natural source's weights: truncate them.
    let record =
        std::fs::read(p.path().join("artifacts/nodes/smoke/pretrain+natural.json")).unwrap();
    let key = serde_json::from_slice::<serde_json::Value>(&record).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let model = p.path().join("artifacts/objects").join(key).join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    let _ = std::fs::set_permissions(&model, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();

    let out = run(p.path(), &["reports/smoke/table3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("pretrain/natural") && all.contains("damaged"),
        "a warning names it: {all}"
    );
    assert!(ran(&out).contains(&"pretrain/natural".to_string()), "{all}");
    assert_eq!(std::fs::read(&model).unwrap_or_default().len(), bytes.len(), "recomputed whole");
}

#[test]
fn two_concurrent_runs_never_compute_a_node_twice() {
    let p = project();
    let spawn = || {
        command(p.path(), &["run", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let mut all = ran(&a);
    all.extend(ran(&b));
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "a node ran in both processes");
    assert_eq!(total, node_count(p.path()), "every node ran exactly once");
}

/// Bad input: exit code 2, a clear message, and nothing written to `artifacts/`.
fn rejects(p: &Path, args: &[&str], expected: &[&str]) {
    let out = pipeline(p, args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for e in expected {
        assert!(all.contains(e), "expected `{e}` in: {all}");
    }
    assert!(!p.join("artifacts").exists(), "bad input touched artifacts/");
}

#[test]
fn bad_input_gets_a_clear_error_exit_code_2_and_touches_nothing() {
    let p = project();
    rejects(
        p.path(),
        &["run", "reports/table6"],
        &["reports/table6", "reports/smoke/table5", "finetune"],
    );
    rejects(p.path(), &["--profile", "nope", "run"], &["unknown profile `nope`", "mini", "smoke"]);

    let yaml = p.path().join("pipeline.yaml");
    let good = std::fs::read_to_string(&yaml).unwrap();
    let misspelt = good.replacen(
        "      momentum: 0.9\n      weight_decay: 5.0e-4\n      batch: 16",
        "      momentum: 0.9\n      weight_decay: 5.0e-4\n      bach: 16",
        1,
    );
    assert_ne!(misspelt, good);
    std::fs::write(&yaml, &misspelt).unwrap();
    let line = misspelt.lines().position(|l| l.contains("bach: 16")).unwrap() + 1;
    rejects(
        p.path(),
        &["run"],
        &["pipeline.yaml:", &format!(":{line}:"), "unknown field `bach`", "batch"],
    );

    let undefined =
        good.replacen("datasets: [cifar10, mnist]", "datasets: [cifar10, mnist, emnist]", 1);
    std::fs::write(&yaml, &undefined).unwrap();
    rejects(
        p.path(),
        &["status"],
        &["unknown dataset `emnist`", "profiles.smoke.grid.datasets[2]"],
    );
}

/// The exit code follows the cause: 2 bad input, 1 a failed node, 3 an I/O fault, 4 a cluster
/// fault; the message names an I/O or cluster fault as such.
#[test]
fn exit_codes_follow_the_cause_of_a_failure() {
    let p = project();
    let code = |out: &std::process::Output| out.status.code();
    let unknown = pipeline(p.path(), &["run", "reports/table6"]);
    assert_eq!(code(&unknown), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).starts_with("error: unknown target"), "{}", text(&unknown));

    let yaml = p.path().join("pipeline.yaml");
    let good = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, "profiles: [\n").unwrap();
    let bad_yaml = pipeline(p.path(), &["status"]);
    assert_eq!(code(&bad_yaml), Some(2), "{}", text(&bad_yaml));
    std::fs::write(&yaml, &good).unwrap();

    // A store that cannot be created (a file is in its way) is an I/O fault.
    std::fs::write(p.path().join("blocker"), b"a file").unwrap();
    let io = pipeline(p.path(), &["--store", "blocker/artifacts", "run", "prepare/cifar10"]);
    assert_eq!(code(&io), Some(3), "{}", text(&io));
    assert!(text(&io).contains("error: I/O fault: creating artifact store"), "{}", text(&io));

    // No Slurm commands on PATH: a cluster fault, found before anything is written.
    let empty = tempfile::tempdir().unwrap();
    let slurm = command(p.path(), &["run", "--executor", "slurm", "--allow-local-store"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(code(&slurm), Some(4), "{}", text(&slurm));
    assert!(text(&slurm).contains("error: cluster fault: --executor slurm: `sbatch`"));
    assert!(!p.path().join("artifacts").exists(), "the Slurm preflight touched artifacts/");

    add_broken_dataset(p.path());
    let failed = run(p.path(), &["prepare/broken"]);
    assert_eq!(code(&failed), Some(1), "{}", text(&failed));
    assert_eq!(outcomes(&failed).get("failed"), Some(&vec!["prepare/broken".to_string()]));
}

#[test]
fn paper_profile_status_works_offline_lists_the_whole_grid_and_warns_about_unpinned_files() {
    let dir = project();
    // (Its speed is measured by `cargo bench -p pipeline-engine --bench status`, not here.)
    let out = pipeline(dir.path(), &["--profile", "paper", "status", "--json"]);
    assert_eq!(out.status.code(), Some(1), "work remains: {}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds = json["status"]["kinds"].as_array().unwrap();
    let finetune = kinds.iter().find(|k| k["kind"] == "finetune").unwrap();
    assert_eq!(finetune["missing"], 12_576, "4 sources × 6 datasets × 4 depths × 131");
    let mut ids: Vec<&str> = json["status"]["targets"][0]["out_of_date"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "finetune")
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12_576, "every cell is listed once");
    assert!(ids.contains(&"finetune/linf_eps8/mnist/nall/b9/s20000000"));
    assert!(
        ids.contains(&"finetune/l2_eps3/cifar100/n1600/b3/s21900000"),
        "seed 20 of the 1600 row"
    );
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("16 file(s) `unpinned`") && warning.contains("fetch/source/l2_eps3"),
        "{warning}"
    );
    assert!(
        !dir.path()
            .join("artifacts/objects")
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "status builds nothing"
    );

    let out = pipeline(dir.path(), &["--profile", "paper", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("finetune") && text(&out).contains("12576"), "{}", text(&out));
}

#[test]
fn two_fresh_projects_with_different_jobs_give_byte_identical_reports_and_lock() {
    let (a, b) = (project(), project());
    let one = run(a.path(), &["--jobs", "1"]);
    let two = run(b.path(), &["--jobs", "2"]);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    assert_eq!(two.status.code(), Some(0), "{}", text(&two));
    let (ra, rb) = (reports(a.path()), reports(b.path()));
    assert!(ra.contains_key("pipeline.lock"));
    for name in ra.keys().chain(rb.keys()) {
        assert_eq!(ra.get(name), rb.get(name), "{REPORTS}/{name} differs between the projects");
    }
}

#[test]
fn a_forced_cell_that_reproduces_its_numbers_invalidates_nothing_downstream() {
    let p = project();
    let first = run(p.path(), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let cell = ran(&first).into_iter().find(|id| id.starts_with("finetune/")).unwrap();
    let lock = reports(p.path())["pipeline.lock"].clone();

    let forced = run(p.path(), &["--force", &cell]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert_eq!(ran(&forced), std::slice::from_ref(&cell), "--force recomputes the target only");
    assert_eq!(key_of(&forced, &cell), key_of(&first, &cell));

    let after = run(p.path(), &[]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    assert!(ran(&after).is_empty(), "nothing downstream re-ran: {:?}", ran(&after));
    for aggregate in ["aggregate/blocks3", "aggregate/depths"] {
        assert_eq!(key_of(&after, aggregate), key_of(&first, aggregate));
    }
    assert_eq!(reports(p.path())["pipeline.lock"], lock);

    // --force-all recomputes the cell with everything it depends on.
    let all = run(p.path(), &["--force-all", &cell]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    // The cell's closure: its target and source data, the source model, its subset, itself.
    let expected = BTreeMap::from([
        ("finetune".to_string(), 1),
        ("prepare".to_string(), 2),
        ("pretrain".to_string(), 1),
        ("subset".to_string(), 1),
    ]);
    assert_eq!(kinds(&ran(&all)), expected, "{}", text(&all));
}

#[test]
fn a_non_default_profile_publishes_into_its_own_folder_and_leaves_the_default_reports_alone() {
    let p = project();
    let default_reports = p.path().join("reports");
    std::fs::create_dir_all(&default_reports).unwrap();
    for name in ["table5.md", "pipeline.lock", "README.md"] {
        std::fs::write(default_reports.join(name), format!("reviewed {name}\n")).unwrap();
    }
    let out = run(p.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in ["table5.md", "pipeline.lock", "README.md"] {
        let kept = std::fs::read_to_string(default_reports.join(name)).unwrap();
        assert_eq!(kept, format!("reviewed {name}\n"), "reports/{name} was overwritten");
    }
    let lock = String::from_utf8(reports(p.path())["pipeline.lock"].clone()).unwrap();
    assert_eq!(lock.lines().nth(1), Some("profile smoke"), "{lock}");
    assert!(lock.contains("report reports/smoke/table5.md "), "{lock}");
    // Logs and build records are kept per profile.
    assert!(p.path().join("artifacts/logs/smoke").is_dir());
    assert!(p.path().join("artifacts/nodes/smoke/pretrain+natural.json").is_file());
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}

/// Table 5 cells (dataset, size, source) whose mean, interval or seed count differ between
/// two `table5.csv` texts, read here independently of the binary.
fn moved_cells(old: &str, new: &str) -> Vec<String> {
    let rows = |t: &str| -> BTreeMap<String, String> {
        let header: Vec<&str> = t.lines().next().unwrap_or_default().split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).expect("a table5.csv column");
        let [dataset, size, source, n, mean, ci] =
            ["dataset", "size_label", "source", "n_seeds", "mean", "ci95"].map(at);
        t.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    format!("| {} | {} | {} |", f[dataset], f[size], f[source]),
                    format!("{},{},{}", f[n], f[mean], f[ci]),
                )
            })
            .collect()
    };
    let (old, new) = (rows(old), rows(new));
    new.iter()
        .filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v))
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn diff_lists_the_moved_cells_and_names_the_parameter_that_moved_them() {
    let p = project();
    assert_eq!(run(p.path(), &[]).status.code(), Some(0));
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "pipeline.yaml", "reports"]);
    git(p.path(), &["commit", "-q", "-m", "smoke reports"]);

    let clean = pipeline(p.path(), &["diff"]);
    assert_eq!(clean.status.code(), Some(0), "nothing moved: {}", text(&clean));
    assert!(text(&clean).contains("No cell moved"), "{}", text(&clean));

    let old_csv = String::from_utf8(reports(p.path())["table5.csv"].clone()).unwrap();
    let yaml = p.path().join("pipeline.yaml");
    let text0 = std::fs::read_to_string(&yaml).unwrap();
    let smoke = text0.find("  smoke:").unwrap();
    let at = smoke + text0[smoke..].find("    finetune:").unwrap();
    let lr = at + text0[at..].find("lr: ").unwrap();
    let end = lr + text0[lr..].find('\n').unwrap();
    let old_lr = text0[lr + 4..end].trim().to_string();
    std::fs::write(&yaml, format!("{}lr: 0.05{}", &text0[..lr], &text0[end..])).unwrap();
    assert_eq!(run(p.path(), &[]).status.code(), Some(0));
    let new_csv = String::from_utf8(reports(p.path())["table5.csv"].clone()).unwrap();

    let out = pipeline(p.path(), &["diff", "HEAD"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "something moved: {all}");
    let expected = moved_cells(&old_csv, &new_csv);
    assert!(!expected.is_empty(), "the edit moves Table 5");
    let listed: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Dataset") && !l.starts_with("| ---"))
        .collect();
    assert_eq!(listed.len(), expected.len(), "{all}");
    for cell in &expected {
        assert!(listed.iter().any(|l| l.starts_with(cell.as_str())), "{cell} not listed: {all}");
    }
    assert!(all.contains(&format!("parameter train.lr: {old_lr} → 0.05")), "{all}");
    assert!(all.contains("**finetune** × 48"), "{all}");
}

#[test]
fn diff_rejects_a_missing_repository_an_unknown_revision_and_another_profiles_reports() {
    let p = project();
    let outside = pipeline(p.path(), &["diff"]);
    assert_eq!(outside.status.code(), Some(2), "{}", text(&outside));
    assert!(text(&outside).contains("not in a git repository"), "{}", text(&outside));
    assert_eq!(text(&outside).lines().count(), 1, "one line: {}", text(&outside));

    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "pipeline.yaml"]);
    git(p.path(), &["commit", "-q", "-m", "study"]);
    let unknown = pipeline(p.path(), &["diff", "no-such-rev"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("unknown git revision `no-such-rev`"), "{}", text(&unknown));
    assert_eq!(text(&unknown).lines().count(), 1, "one line: {}", text(&unknown));

    let lock = p.path().join(REPORTS).join("pipeline.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "# pipeline.lock\nprofile mini\n").unwrap();
    git(p.path(), &["add", "reports"]);
    git(p.path(), &["commit", "-q", "-m", "reports of another profile"]);
    let other = pipeline(p.path(), &["diff"]);
    assert_eq!(other.status.code(), Some(2), "{}", text(&other));
    assert!(text(&other).contains("built with profile `mini`, not `smoke`"), "{}", text(&other));
}

#[test]
fn a_worker_builds_a_job_only_when_it_computes_the_same_key() {
    let p = project();
    let plan = pipeline(p.path(), &["run", "--dry-run", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let prepare = plan["plan"]["would_run"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "prepare/cifar10")
        .unwrap()
        .clone();
    let key = prepare["key"].as_str().unwrap().to_string();
    let job = |key: &str| serde_json::json!([{ "node": "prepare/cifar10", "kind": "prepare", "key": key, "inputs": [] }]);
    let jobs = p.path().join("jobs.json");

    // A key the study does not give (another binary or pipeline.yaml submitted it): refused.
    // (Its last digit changed: to `1` where the real key ends in `0`.)
    let other = format!("{}{}", &key[..63], if key.ends_with('0') { '1' } else { '0' });
    std::fs::write(&jobs, job(&other).to_string()).unwrap();
    let out = pipeline(p.path(), &["worker", "jobs.json", "--index", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(&format!("has key {key} here but was submitted as {other}")));
    let objects = p.path().join("artifacts/objects");
    assert_eq!(std::fs::read_dir(&objects).map(|d| d.count()).unwrap_or(0), 0, "built anyway");
    assert!(!p.path().join("0.result.json").exists());

    // The right key: built, its result left for the driver, and a cache hit for a local run.
    std::fs::write(&jobs, job(&key).to_string()).unwrap();
    let out = pipeline(p.path(), &["worker", "jobs.json", "--index", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.path().join("0.result.json")).unwrap()).unwrap();
    assert_eq!((result["outcome"].as_str(), result["key"].as_str()), (Some("built"), Some(&*key)));
    let local = run(p.path(), &["prepare/cifar10"]);
    assert_eq!(outcomes(&local).get("cached"), Some(&vec!["prepare/cifar10".to_string()]));
}

/// `--device`: a bad value, and CUDA asked of a binary built without it, are one-line errors
/// with exit code 2 before anything runs; `auto` and `cpu` run on the CPU and say so.
#[test]
fn device_choice_is_checked_before_anything_runs() {
    let p = project();
    rejects(p.path(), &["--device", "gpu", "run"], &["`gpu`: expected auto, cpu, cuda or cuda:N"]);
    if cfg!(not(feature = "cuda")) {
        for args in [
            &["--device", "cuda", "run"][..],
            &["run", "--device", "cuda:1"],
            &["--device", "cuda", "bench"],
            &["gpu-check"],
        ] {
            let out = pipeline(p.path(), args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("built without CUDA") && err.contains("--features cuda"), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(!p.path().join("artifacts").exists(), "{args:?} touched artifacts/");
        }
    }
    rejects(p.path(), &["--device", "cpu", "gpu-check"], &["gpu-check checks a GPU"]);
    let out = run(p.path(), &["--device", "cpu", "reports/smoke/table3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("device: cpu"), "{}", text(&out));
    let log = std::fs::read_to_string(p.path().join("artifacts/logs/smoke/pretrain+natural.log"));
    assert!(log.unwrap().contains("device: cpu"), "the node's log names its device");
}

/// The study `pipeline gpu-check` builds on a GPU is a valid study whose every report is
/// reachable: checked here by planning it (building it needs the GPU).
#[test]
fn the_gpu_check_study_plans_every_stage_of_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo_file("src/gpu_check.yaml"), dir.path().join("pipeline.yaml")).unwrap();
    let out = pipeline(dir.path(), &["--profile", "gpu-check", "run", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(1), "work remains: {}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = json["plan"]["would_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    for kind in ["prepare/", "pretrain/", "subset/", "finetune/", "aggregate/", "render/table5"] {
        assert!(ids.iter().any(|id| id.starts_with(kind)), "{kind} in {ids:?}");
    }
    assert!(ids.contains(&"finetune/l2_eps3/cifar10/n32/b9/s20000000"), "{ids:?}");
}

/// A study with one hub source (block style) and one hub dataset (flow style), all unpinned.
const HUB_STUDY: &str = "\
default_profile: hub
profiles:
  hub:
    description: Two hub repositories, unpinned.
    network: { width: 2, stem: small, resolution: 8 }
    sources:
      - name: natural   # its hub block in block style
        label: Natural
        constraint: none
        origin: hub
        hub:
          repo: org/model
          revision: unpinned    # a comment that stays
          file: model.safetensors
          blake3: unpinned
          format: torchvision
    datasets:
      - { name: digits, label: Digits, hub: { repo: org/digits, revision: unpinned, train_file: d/train.parquet, train_blake3: unpinned, test_file: d/test.parquet, test_blake3: unpinned, image_column: image, label_column: label, classes: 10 } }
    finetune: { lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4, batch: 16, eval_batch: 100, augment: { pad: 1, flip: false, jitter: 0.0, rotation: 0.0 } }
    grid:
      sources: [natural]
      datasets: [digits]
      blocks: [3]
      schedule:
        - { size: 20, epochs: 1, seeds: 1, eval_every: 1, lr_decay: [] }
";

#[test]
fn pin_writes_the_fetched_commits_and_hashes_over_exactly_the_unpinned_words() {
    let p = tempfile::tempdir().unwrap();
    let config = p.path().join("pipeline.yaml");
    std::fs::write(&config, HUB_STUDY).unwrap();
    // The project's loopback hub serving both repositories, at `main` and at their commit.
    let server = hub_server::Server::start();
    let commit = hub_server::REVISION;
    let files = [
        ("org/model", "model.safetensors", b"model bytes".to_vec()),
        ("datasets/org/digits", "d/train.parquet", b"train bytes".to_vec()),
        ("datasets/org/digits", "d/test.parquet", b"test bytes".to_vec()),
    ];
    for (repo, file, bytes) in &files {
        for revision in ["main", commit] {
            server.put(&format!("/{repo}/resolve/{revision}/{file}"), bytes.clone());
        }
    }
    let cache = p.path().join("hf");
    let hub = |args: &[&str]| {
        let mut c = command(p.path(), &[&["--profile", "hub"], args].concat());
        c.env("HF_HUB_CACHE", &cache).env("HF_ENDPOINT", &server.endpoint);
        c.env_remove("HF_HUB_OFFLINE").env_remove("HF_TOKEN").env_remove("HF_HOME");
        c.output().unwrap()
    };

    // Nothing fetched: said, nothing changed, exit 1 (work remains).
    let out = hub(&["pin"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("nothing pinned: 3 file(s) are `unpinned` and 0 of them fetched"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), HUB_STUDY);

    let out = hub(&["run", "fetch"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = hub(&["pin"]);
    assert!(out.status.success(), "{}", text(&out));
    let hash = |b: &[u8]| blake3::hash(b).to_hex().to_string();
    let want = HUB_STUDY
        .replacen("revision: unpinned", &format!("revision: {commit}"), 1)
        .replacen("blake3: unpinned", &format!("blake3: {}", hash(b"model bytes")), 1)
        .replacen("revision: unpinned", &format!("revision: {commit}"), 1)
        .replacen("train_blake3: unpinned", &format!("train_blake3: {}", hash(b"train bytes")), 1)
        .replacen("test_blake3: unpinned", &format!("test_blake3: {}", hash(b"test bytes")), 1);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), want, "only the unpinned words change");
    let printed = text(&out);
    assert!(
        printed.contains(&format!(
            "pipeline.yaml:13: profiles.hub.sources[0].hub.revision: unpinned → {commit}"
        )) && printed.contains("pinned 5 value(s)"),
        "{printed}"
    );
    assert!(
        !p.path()
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains(".pin-") }),
        "no temporary file is left"
    );

    // Pinned now: the files are fetched again at their commits (the fetch nodes' keys moved)
    // and verified; nothing is left to pin, and nothing warns.
    let requests = server.requests();
    let out = hub(&["run", "fetch"]);
    assert!(out.status.success() && !text(&out).contains("unpinned"), "{}", text(&out));
    assert_eq!(server.requests(), requests, "served from the cache at the pinned commit");
    let out = hub(&["pin"]);
    assert!(out.status.success() && text(&out).contains("nothing to do"), "{}", text(&out));
}
