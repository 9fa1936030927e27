//! The checks of a profile's blocks against the rest of the profile: an `influence:` block must
//! name a cell of the grid, a `figure1:` block sources of the grid and coordinates of its
//! network, a `probe:` block a profile whose sources are trained on the source set. The blocks' types belong to the stages they configure; what they must match is the
//! study's wiring, so the checks are here.

use super::config::{Profile, SourceOrigin};
use crate::data::subset::seeds;
use crate::influence::settings::InfluenceSettings;
use crate::influence::solve::Inverse;
use crate::probe::settings::ProbeSettings;
use crate::threat::Constraint;
use crate::visualise::settings::Figure1Settings;

/// A field of a block that does not fit its profile, and why.
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// What of an `influence:` block does not name a part of `profile`'s grid.
pub fn influence(s: &InfluenceSettings, profile: &Profile) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |field, message: String| problems.push(Problem { field, message });
    let grid = &profile.grid;
    if !grid.datasets.contains(&s.dataset) {
        problem(
            "dataset",
            format!("`{}` is not a dataset of the grid ({})", s.dataset, grid.datasets.join(", ")),
        );
    }
    // A source of the profile that the grid fine-tunes.
    let of_grid = |name: &String| {
        profile.sources.iter().find(|s| &s.name == name && grid.sources.contains(name))
    };
    for (field, name, natural) in [("natural", &s.natural, true), ("robust", &s.robust, false)] {
        match of_grid(name) {
            None => problem(
                field,
                format!("`{name}` is not a source of the grid ({})", grid.sources.join(", ")),
            ),
            Some(s) if natural && s.constraint != Constraint::None => problem(
                field,
                format!("`{name}` is adversarially trained; name the natural source"),
            ),
            Some(s) if !natural && s.constraint == Constraint::None => {
                problem(field, format!("`{name}` is naturally trained; name a robust source"))
            }
            Some(_) => {}
        }
    }
    match grid.schedule.iter().find(|r| r.size == s.size) {
        None => {
            let sizes: Vec<String> = grid.schedule.iter().map(|r| r.size.label()).collect();
            problem(
                "size",
                format!(
                    "{} is not a subset size of the grid ({})",
                    s.size.label(),
                    sizes.join(", ")
                ),
            );
        }
        Some(row) if !seeds(row.seeds).contains(&s.seed) => {
            let have: Vec<String> = seeds(row.seeds).iter().map(u64::to_string).collect();
            problem(
                "seed",
                format!("size {} has seeds {}, not {}", s.size.label(), have.join(", "), s.seed),
            );
        }
        Some(_) => {}
    }
    if !grid.blocks.contains(&s.blocks) {
        problem("blocks", format!("{} is not a depth of the grid ({:?})", s.blocks, grid.blocks));
    }
    if s.inverses.is_empty() {
        problem("inverses", "name at least one inverse (the first draws Figures 6–8)".into());
    }
    for (k, inverse) in s.inverses.iter().enumerate() {
        if s.inverses[..k].iter().any(|i| i.method() == inverse.method()) {
            problem(
                "inverses",
                format!("`{}` is named twice; one of each method", inverse.method()),
            );
        }
        if let Inverse::Pinv { cutoff } = inverse {
            if !(*cutoff >= 0.0 && cutoff.is_finite()) {
                problem(
                    "inverses",
                    format!("the cut-off must be a finite number ≥ 0, got {cutoff}"),
                );
            }
        }
        // Non-finite numbers are refused before this check runs.
        if profile.finetune.weight_decay <= 0.0 && *inverse == Inverse::Damped {
            problem(
                "inverses",
                "the damped solve needs a positive fine-tuning weight decay".into(),
            );
        }
    }
    if let Some(floor) = &s.floor {
        match of_grid(floor) {
            None => problem(
                "floor",
                format!("`{floor}` is not a source of the grid ({})", grid.sources.join(", ")),
            ),
            Some(s) if s.origin != SourceOrigin::Scratch => problem(
                "floor",
                format!("`{floor}` is pre-trained; the floor is a source with `origin: scratch`"),
            ),
            Some(_) => {}
        }
    }
    problems
}

/// What of a `figure1:` block does not fit `profile`.
pub fn figure1(s: &Figure1Settings, profile: &Profile) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |field, message: String| problems.push(Problem { field, message });
    let grid = &profile.grid.sources;
    let mut constraints = Vec::new();
    for name in &s.sources {
        match profile.sources.iter().find(|s| &s.name == name && grid.contains(name)) {
            None => problem(
                "sources",
                format!("`{name}` is not a source of the grid ({})", grid.join(", ")),
            ),
            Some(s) => constraints.push(s.constraint),
        }
    }
    if constraints.len() == s.sources.len()
        && !(constraints.contains(&Constraint::None)
            && constraints.iter().any(|c| *c != Constraint::None))
    {
        problem("sources", "name the natural source and at least one robust one".into());
    }
    let width = 32 * profile.network.width;
    if let Some(k) = s.coordinates.iter().find(|&&k| k >= width) {
        problem(
            "coordinates",
            format!("{k} is beyond the representation (32·width = {width} coordinates)"),
        );
    }
    if s.coordinates.is_empty() {
        problem("coordinates", "name at least one coordinate".into());
    }
    if s.patterns.is_empty() && s.noise == 0 {
        problem("patterns", "no seed images: name patterns or set noise".into());
    }
    if !(s.step > 0.0 && s.step.is_finite()) {
        problem("step", format!("{} is not a positive step", s.step));
    }
    if s.iterations == 0 {
        problem("iterations", "at least one step".into());
    }
    problems
}

/// What of a `probe:` block cannot be run on `profile`.
pub fn probe(s: &ProbeSettings, profile: &Profile) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !(s.sigma.is_finite() && s.sigma > 0.0) {
        problems
            .push(Problem { field: "sigma", message: "the filter's σ must be positive".into() });
    }
    let generator = profile.pretrain.as_ref().map(|p| p.data.generator.as_str());
    if generator != Some("source") {
        problems.push(Problem {
            field: "conflict_images",
            message: "the cue-conflict images are drawn from the profile's source set: the `pretrain` section must use the `source` generator".into(),
        });
    } else if s.conflict_images == 0 {
        problems.push(Problem { field: "conflict_images", message: "at least one image".into() });
    }
    problems
}
