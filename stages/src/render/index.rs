//! The index (`README.md` under `reports/`): every report with one line on what it shows, and the
//! profile it comes from. The integrator appends the lock-file keys below it.

use super::RenderParams;
use std::fmt::Write;

/// `README.md` listing `params.reports`.
pub fn render(params: &RenderParams) -> String {
    let mut md = String::from("# Reports\n\n");
    md.push_str("Tables and figures reproducing \"Adversarially-Trained Deep Nets Transfer Better\" (Utrera et al., 2020).\n\n");
    md.push_str(&params.provenance());
    md.push_str("\n\n");
    for r in &params.reports {
        writeln!(md, "- [{}]({}): {}", r.path, r.path, r.description).expect("writing to a String");
    }
    md
}
