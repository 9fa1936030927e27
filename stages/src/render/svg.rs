//! Pieces of the hand-drawn SVG figures (Figures 1, 6, 7 and 9; the charts use plotters): the
//! opening (document element with its size, the sans-serif family — no system fonts are read —
//! and a white background), a grey caption of several lines, and its wrapping.

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

/// `text` broken at spaces into lines of at most `width` characters (a longer word stays whole):
/// the hand-drawn figures' captions (SVG text does not wrap).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}
