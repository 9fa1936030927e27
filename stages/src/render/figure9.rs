//! Figure 9: the fine-tuning set-ups, drawn from the network definition the code trains. Every
//! box is a part of the network as `nn::layout` defines it (the stem, the 16 bottleneck blocks
//! by their torchvision names, the new `fc`), and whether it trains at k blocks is decided by the
//! same `nn::layout::Trainable` that fine-tuning uses, so the figure cannot disagree with the
//! code.

use super::RenderParams;
use crate::nn::layout::{tensor_specs, NetConfig, Part, Role, Trainable, LAYERS};
use anyhow::{ensure, Result};
use std::fmt::Write;

/// One box: a part of the network and the tensors it holds.
pub struct Unit {
    pub part: Part,
    /// `stem`, `layer3.5`, `fc`.
    pub name: String,
    /// Its trained tensors' torchvision names.
    pub parameters: Vec<String>,
}

/// The network's parts in order, from the ResNet-50 layout (the same at every width).
pub fn units() -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    for spec in tensor_specs(&NetConfig::resnet50(10)) {
        if spec.role != Role::Parameter {
            continue;
        }
        let name = match spec.part {
            Part::Stem => "stem".to_string(),
            Part::Fc => "fc".to_string(),
            Part::Block(_) => spec.name.splitn(3, '.').take(2).collect::<Vec<_>>().join("."),
        };
        match units.last_mut() {
            Some(u) if u.part == spec.part => u.parameters.push(spec.name),
            _ => units.push(Unit { part: spec.part, name, parameters: vec![spec.name] }),
        }
    }
    units
}

/// Whether `unit` trains when fine-tuning `blocks` blocks.
pub fn trains(unit: &Unit, blocks: usize) -> bool {
    Trainable::LastBlocks(blocks).includes(unit.part)
}

const TRAIN: &str = "#e15759";
const FROZEN: &str = "#d9d9d9";
const STROKE: &str = "#555555";
const NOTE: &str = "#444444";

/// The figure: one row per fine-tuning depth of the profile.
pub fn render(p: &RenderParams) -> Result<String> {
    ensure!(!p.blocks.is_empty(), "Figure 9 needs the profile's fine-tuning depths");
    let units = units();
    let (left, top, row_h, box_w, box_h, gap, stage_gap) =
        (150.0, 80.0, 56.0, 30.0, 30.0, 4.0, 14.0);
    // x of each unit: stem, then blocks with a wider gap between stages, then fc.
    let mut xs = Vec::new();
    let mut x = left;
    let stage_starts: Vec<usize> = LAYERS
        .iter()
        .scan(0, |s, &n| {
            let start = *s;
            *s += n;
            Some(start)
        })
        .collect();
    for u in &units {
        if let Part::Block(i) = u.part {
            if stage_starts.contains(&i) {
                x += stage_gap;
            }
        }
        if u.part == Part::Fc {
            x += stage_gap;
        }
        xs.push(x);
        x += box_w + gap;
    }
    let width = x + 30.0;
    let height = top + row_h * p.blocks.len() as f64 + 70.0;
    let mut svg = crate::render::svg::open(width, height);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="26" font-size="16" text-anchor="middle">Figure 9: what trains when fine-tuning k blocks (profile {})</text>"#,
        width / 2.0,
        p.profile
    );
    // Stage headings over the first row.
    let mut headings: Vec<(String, f64, f64)> = vec![("stem".into(), xs[0], xs[0] + box_w)];
    for (s, &start) in stage_starts.iter().enumerate() {
        let first = units.iter().position(|u| u.part == Part::Block(start)).expect("block");
        let last = first + LAYERS[s] - 1;
        headings.push((format!("layer{}", s + 1), xs[first], xs[last] + box_w));
    }
    let fc = units.len() - 1;
    headings.push(("new fc".into(), xs[fc], xs[fc] + box_w));
    for (name, a, b) in &headings {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{name}</text>"#,
            (a + b) / 2.0,
            top - 10.0
        );
    }
    for (r, &k) in p.blocks.iter().enumerate() {
        let y = top + row_h * r as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="13" text-anchor="end">k = {k} block{}</text>"#,
            left - 10.0,
            y + box_h / 2.0 + 4.0,
            if k == 1 { "" } else { "s" }
        );
        for (u, &x) in units.iter().zip(&xs) {
            let fill = if trains(u, k) { TRAIN } else { FROZEN };
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="3" fill="{fill}" stroke="{STROKE}" stroke-width="0.8"><title>{} ({} tensors)</title></rect>"#,
                u.name,
                u.parameters.len()
            );
            let label = match u.part {
                Part::Block(_) => u.name.rsplit('.').next().unwrap_or("").to_string(),
                Part::Stem => "S".into(),
                Part::Fc => "fc".into(),
            };
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{label}</text>"#,
                x + box_w / 2.0,
                y + box_h / 2.0 + 4.0
            );
        }
    }
    let y = top + row_h * p.blocks.len() as f64 + 10.0;
    for (i, (fill, text)) in
        [(TRAIN, "trains (SGD)"), (FROZEN, "frozen (copied from the source)")].iter().enumerate()
    {
        let x = left + 260.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{y}" width="16" height="16" fill="{fill}" stroke="{STROKE}" stroke-width="0.8"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="12">{text}</text>"#,
            x + 22.0,
            y + 12.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}" font-size="11" fill="{NOTE}">Boxes are ResNet-50's bottleneck blocks by index within their layer (torchvision names layerN.i); S: conv1 + bn1.</text>"#,
        y + 40.0
    );
    svg.push_str("</svg>\n");
    Ok(svg)
}
