//! Why a call failed, as far as its caller acts on it: a [`Fault`] travels inside the
//! `anyhow::Error` chain (marked with [`FaultContext::fault`]) and [`Fault::of`] reads it back,
//! so that messages and their causes stay as they are while the binary turns each fault into
//! its own exit code.

use std::fmt;

/// The cause of an error, as a caller acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// What was asked is wrong: the study (nodes that form no DAG), a target, an option. The
    /// message says what to change.
    Input,
    /// A file or directory could not be read or written: the store, the reports, the lock file.
    Io,
    /// The cluster failed: Slurm's commands are missing, its controller does not answer, or one
    /// of its commands failed.
    Cluster,
}

impl Fault {
    /// The fault behind `error`: the outermost mark in its chain; without one, [`Fault::Io`]
    /// when a `std::io::Error` is among its causes, else [`Fault::Input`].
    pub fn of(error: &anyhow::Error) -> Fault {
        let marked = error.chain().find_map(|e| e.downcast_ref::<Marked>().map(|m| m.fault));
        let io = || error.chain().any(|e| e.is::<std::io::Error>()).then_some(Fault::Io);
        marked.or_else(io).unwrap_or(Fault::Input)
    }
}

/// Marks the error of a `Result` with its [`Fault`]; the message and causes are unchanged.
pub trait FaultContext<T> {
    fn fault(self, fault: Fault) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> FaultContext<T> for Result<T, E> {
    fn fault(self, fault: Fault) -> anyhow::Result<T> {
        self.map_err(|error| anyhow::Error::new(Marked { fault, error: error.into() }))
    }
}

/// An error with its fault. It shows as the error it holds, whose causes are its causes.
#[derive(Debug)]
struct Marked {
    fault: Fault,
    error: anyhow::Error,
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn the_outermost_mark_wins_and_the_message_and_causes_are_kept() {
        let inner: anyhow::Result<()> =
            Err(anyhow!("`sbatch` failed")).context("submitting").fault(Fault::Cluster);
        let outer = inner.context("running the study").fault(Fault::Input).unwrap_err();
        assert_eq!(Fault::of(&outer), Fault::Input);
        let chain: Vec<String> = outer.chain().map(|e| e.to_string()).collect();
        assert_eq!(chain, ["running the study", "submitting", "`sbatch` failed"]);
        assert_eq!(format!("{outer:#}"), "running the study: submitting: `sbatch` failed");

        let cluster = Err::<(), _>(anyhow!("down")).fault(Fault::Cluster).context("polling");
        assert_eq!(Fault::of(&cluster.unwrap_err()), Fault::Cluster);
    }

    #[test]
    fn an_unmarked_io_error_is_an_io_fault_and_anything_else_bad_input() {
        let io = std::fs::read("/nonexistent/file").context("reading the file").unwrap_err();
        assert_eq!(Fault::of(&io), Fault::Io);
        assert_eq!(Fault::of(&anyhow!("unknown target `x`")), Fault::Input);
    }
}
