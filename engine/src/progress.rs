//! What a run shows while it works: on a terminal, a progress bar (nodes done/total, current
//! node, elapsed, ETA) with one bar per node that reports progress from inside; otherwise plain
//! log lines, one per finished node (`<id> ran 12.3s`).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// How a run reports progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A progress bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// One line per finished node.
    Lines,
    /// Nothing (warnings are still in the run summary).
    Hidden,
}

pub enum Progress {
    Bar {
        multi: MultiProgress,
        main: ProgressBar,
        /// Running nodes in start order, each with its own bar once it reports progress.
        running: Mutex<Vec<(String, Option<ProgressBar>)>>,
    },
    Lines {
        /// The last note printed, so that an unchanged one is not repeated.
        note: Mutex<String>,
    },
    Hidden,
}

impl Progress {
    pub fn new(mode: ProgressMode, total: usize) -> Progress {
        match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let main = multi.add(ProgressBar::new(total as u64));
                main.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:30}] {pos}/{len} nodes  ETA {eta}  {prefix} {wide_msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                Progress::Bar { multi, main, running: Mutex::new(Vec::new()) }
            }
            ProgressMode::Auto | ProgressMode::Lines => Progress::Lines { note: Mutex::default() },
            ProgressMode::Hidden => Progress::Hidden,
        }
    }

    pub fn started(&self, id: &str) {
        if let Progress::Bar { main, running, .. } = self {
            let mut running = running.lock().expect("progress lock");
            running.push((id.to_string(), None));
            main.set_message(running_message(&running));
        }
    }

    /// Progress reported by a running stage through `ctx.progress(done, total)`.
    pub fn node_progress(&self, id: &str, done: u64, total: u64) {
        if let Progress::Bar { multi, running, .. } = self {
            let mut running = running.lock().expect("progress lock");
            let Some((_, slot)) = running.iter_mut().find(|(r, _)| r == id) else { return };
            let bar = slot.get_or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template("  [{bar:25}] {pos}/{len}  {prefix}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(id.to_string());
                bar
            });
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// A node finished: `what` is `ran`, `cached`, `failed`, `blocked by <id>`, ….
    pub fn finished(&self, id: &str, what: &str, seconds: f64) {
        match self {
            Progress::Bar { main, running, .. } => {
                let mut running = running.lock().expect("progress lock");
                if let Some(p) = running.iter().position(|(r, _)| r == id) {
                    if let (_, Some(bar)) = running.remove(p) {
                        bar.finish_and_clear();
                    }
                }
                main.set_message(running_message(&running));
                main.inc(1);
            }
            Progress::Lines { .. } => eprintln!("{id} {what} {seconds:.1}s"),
            Progress::Hidden => {}
        }
    }

    pub fn warn(&self, message: &str) {
        match self {
            Progress::Bar { multi, .. } => {
                let _ = multi.println(format!("warning: {message}"));
            }
            Progress::Lines { .. } => eprintln!("warning: {message}"),
            Progress::Hidden => {}
        }
    }

    /// A line about the run as a whole (an executor's queue counts): beside the bar, or printed
    /// when it changed.
    pub fn note(&self, text: &str) {
        match self {
            Progress::Bar { main, .. } => main.set_prefix(text.to_string()),
            Progress::Lines { note } => {
                let mut last = note.lock().expect("progress lock");
                if *last != text {
                    eprintln!("{text}");
                    *last = text.to_string();
                }
            }
            Progress::Hidden => {}
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar { main, .. } = self {
            main.finish_and_clear();
        }
    }
}

/// The running nodes for the main bar's message: the first two ids and how many more.
fn running_message(running: &[(String, Option<ProgressBar>)]) -> String {
    let ids: Vec<&str> = running.iter().take(2).map(|(id, _)| id.as_str()).collect();
    match running.len() {
        n if n > 2 => format!("{} (+{} more)", ids.join(", "), n - 2),
        _ => ids.join(", "),
    }
}
