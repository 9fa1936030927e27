//! The opening of a hand-drawn SVG figure (Figures 6, 7 and 9; the charts use plotters): the
//! document element with its size, the sans-serif family (no system fonts are read) and a white
//! background.

/// `<svg …>` and the white background; the caller closes it with `</svg>`.
pub fn open(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"
    )
}
