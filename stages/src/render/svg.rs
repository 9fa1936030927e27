//! Pieces of the hand-drawn SVG figures (Figures 6, 7 and 9; the charts use plotters): the
//! opening (document element with its size, the sans-serif family — no system fonts are read —
//! and a white background) and a grey caption of several lines.

/// `<svg …>` and the white background; the caller closes it with `</svg>`.
pub fn open(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"
    )
}

/// `lines` as grey 12 px text at the left margin, one every 16 px from `first_baseline`.
pub fn caption(lines: &[String], first_baseline: f64) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            format!(
                "<text x=\"16\" y=\"{}\" font-size=\"12\" fill=\"#505050\">{line}</text>\n",
                first_baseline + 16.0 * i as f64
            )
        })
        .collect()
}
