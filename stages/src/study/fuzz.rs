//! No `pipeline.yaml` makes the loader panic or hang: mutated and truncated versions of the
//! project's own file, and random YAML, each end in a study or in an error that names the file,
//! line and column. The mutations are drawn from a fixed seed, so a failure reproduces; the
//! failing text is printed.

use super::load_text;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Cases per test (each loads one text, sometimes expanding the 13,000-node paper grid).
const CASES: usize = 400;
/// A load that takes longer than this counts as a hang.
const HANG: Duration = Duration::from_secs(20);

const FILE: &str = "/fuzz/pipeline.yaml";

fn project_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.yaml")).unwrap()
}

/// Characters that mean something in YAML, and a few that do not.
const SPICE: &[&str] = &[
    ":", "-", "[", "]", "{", "}", "\"", "'", "#", "&a", "*a", "!!str", "|", ">", " ", "\t", "0",
    "-1", "1e999", "nan", "~", "null", "x", "é", "\n", "? ", ",", "%", "@", "`", "<<: *a",
];

/// One mutation of `text`.
fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return random_yaml(rng, 0);
    }
    match rng.random_range(0..9) {
        0 => chars[..rng.random_range(0..chars.len())].iter().collect(),
        1 => {
            lines.remove(rng.random_range(0..n));
            lines.join("\n")
        }
        2 => {
            let i = rng.random_range(0..n);
            lines.insert(i, lines[i].clone());
            lines.join("\n")
        }
        3 => {
            let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
            lines.swap(i, j);
            lines.join("\n")
        }
        4 => {
            let i = rng.random_range(0..n);
            let shift = rng.random_range(0..4);
            lines[i] = if rng.random_bool(0.5) {
                format!("{}{}", " ".repeat(shift), lines[i])
            } else {
                lines[i].trim_start_matches(' ').to_string()
            };
            lines.join("\n")
        }
        5 => {
            // Replace one character with something YAML reads.
            let at = rng.random_range(0..chars.len());
            let with = SPICE[rng.random_range(0..SPICE.len())];
            let mut out: String = chars[..at].iter().collect();
            out.push_str(with);
            out.extend(&chars[at + 1..]);
            out
        }
        6 => {
            // Replace a scalar value with one of another type or range.
            let i = rng.random_range(0..n);
            let values = [
                "-3",
                "0",
                "1e308",
                "-0.0",
                "abc",
                "[]",
                "{}",
                "[1, 2]",
                "99999999999999999999",
                "''",
            ];
            let v = values[rng.random_range(0..values.len())];
            if let Some(p) = lines[i].rfind(": ") {
                lines[i] = format!("{}: {v}", &lines[i][..p]);
            }
            lines.join("\n")
        }
        7 => {
            // Several small edits at once.
            let mut t = text.to_string();
            for _ in 0..rng.random_range(2..6) {
                t = mutate(&t, rng);
            }
            t
        }
        _ => random_yaml(rng, 0),
    }
}

/// A random YAML value, `depth` levels deep at most 4.
fn random_yaml(rng: &mut ChaCha8Rng, depth: usize) -> String {
    let keys = ["default_profile", "profiles", "mini", "grid", "sources", "name", "x", "size"];
    let indent = "  ".repeat(depth);
    match if depth >= 4 { 0 } else { rng.random_range(0..3) } {
        0 => SPICE[rng.random_range(0..SPICE.len())].to_string(),
        1 => (0..rng.random_range(0..4))
            .map(|_| format!("\n{indent}- {}", random_yaml(rng, depth + 1)))
            .collect(),
        _ => (0..rng.random_range(0..4))
            .map(|_| {
                let k = keys[rng.random_range(0..keys.len())];
                format!("\n{indent}{k}: {}", random_yaml(rng, depth + 1))
            })
            .collect(),
    }
}

/// What became of one load.
#[derive(Debug, PartialEq)]
enum Ending {
    Study,
    LocatedError,
}

/// Whether an error message names the file, a line and a column: `/fuzz/pipeline.yaml:12:7: …`.
fn located(message: &str) -> bool {
    let number = |s: &str| s.parse::<u32>().is_ok();
    message.split(FILE).skip(1).any(|rest| {
        let parts: Vec<&str> = rest.splitn(4, ':').collect();
        parts.len() == 4 && parts[0].is_empty() && number(parts[1]) && number(parts[2])
    })
}

/// Load `text` on a thread: a study or a located error, or `Err` saying what went wrong (a
/// panic, a hang, an error without a place).
fn check(text: String, profile: Option<&'static str>) -> Result<Ending, String> {
    let (send, recv) = mpsc::channel();
    let shown = text.clone();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| {
            load_text(&text, Path::new(FILE), profile).map(|_| ()).map_err(|e| format!("{e:#}"))
        });
        let _ = send.send(result);
    });
    match recv.recv_timeout(HANG) {
        Err(_) => Err(format!("no answer within {HANG:?} (profile {profile:?}):\n{shown}")),
        Ok(Err(_)) => Err(format!("panicked (profile {profile:?}) on:\n{shown}")),
        Ok(Ok(Ok(()))) => Ok(Ending::Study),
        Ok(Ok(Err(message))) if located(&message) => Ok(Ending::LocatedError),
        // A profile asked for on the command line that the mutated file no longer defines is the
        // command line's mistake: no place in the file to point at, and the error lists the
        // profiles the file does define.
        Ok(Ok(Err(message)))
            if profile.is_some()
                && message.starts_with("unknown profile")
                && message.contains(FILE) =>
        {
            Ok(Ending::LocatedError)
        }
        Ok(Ok(Err(message))) => {
            Err(format!("error without file:line:column (profile {profile:?}): {message}"))
        }
    }
}

/// Runs the cases; returns how many loaded and how many ended in a located error.
fn run_cases(seed: u64, make: impl Fn(&mut ChaCha8Rng) -> String) -> (usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let profiles = [None, Some("smoke"), Some("paper"), Some("mini")];
    let (mut failures, mut studies, mut errors) = (Vec::new(), 0, 0);
    for _ in 0..CASES {
        let text = make(&mut rng);
        let profile = profiles[(rng.next_u32() % profiles.len() as u32) as usize];
        match check(text, profile) {
            Ok(Ending::Study) => studies += 1,
            Ok(Ending::LocatedError) => errors += 1,
            Err(why) => failures.push(why),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CASES} cases failed; the first:\n{}",
        failures.len(),
        failures[0]
    );
    (studies, errors)
}

#[test]
fn the_located_check_wants_file_line_and_column() {
    assert!(located(&format!("{FILE}:12:7: profiles.mini: unknown field")));
    assert!(located(&format!("loading the study: {FILE}:3:1: bad")));
    assert!(!located(&format!("{FILE}: local dataset `x` of profile `mini`")));
    assert!(!located("unknown profile `x`"));
}

#[test]
fn mutated_project_files_load_or_fail_with_a_located_error() {
    let text = project_text();
    let (studies, errors) = run_cases(1, |rng| mutate(&text, rng));
    // Both endings occur, so the mutations neither all break the file nor all miss it.
    assert!(studies > 0 && errors > 0, "{studies} studies, {errors} errors");
}

#[test]
fn random_yaml_loads_or_fails_with_a_located_error() {
    let (_, errors) = run_cases(2, |rng| random_yaml(rng, 0));
    assert!(errors > 0);
}
