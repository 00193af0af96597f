//! Shared look: font registration, palette, text styles.

use std::sync::Once;

use plotters::style::{FontStyle, RGBColor, register_font};

/// DejaVu Sans (Bitstream Vera derivative, free licence in `DejaVuSans-LICENSE.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Family name the figures use; registered as "sans-serif" so SVG viewers fall back sensibly.
pub(crate) const FONT: &str = "sans-serif";

static REGISTER: Once = Once::new();

/// Registers the bundled font once per process; plotters' ab_glyph table is global.
pub(crate) fn ensure_font() {
    REGISTER.call_once(|| {
        // The bundled file is a valid TTF; a failure here would be a build defect, and plotters
        // then reports "font unavailable" as a drawing error rather than panicking.
        let _ = register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

/// Tableau-10 colours: distinguishable and colour-blind friendlier than pure RGB.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Finite (min, max) of values, padded by 5 % (or ±1 for a flat series); `None` if none finite.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    if hi - lo < 1e-12 {
        return Some((lo - 1.0, hi + 1.0));
    }
    let pad = 0.05 * (hi - lo);
    Some((lo - pad, hi + pad))
}

/// Axis tick text without float noise or a useless ".0" ("200", "0.25", "2.5").
pub(crate) fn tick(v: &f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_text() {
        assert_eq!(tick(&200.0), "200");
        assert_eq!(tick(&0.30000000000000004), "0.3");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&-0.00001), "0");
        assert_eq!(padded_range([1.0, f64::NAN, 3.0]), Some((0.9, 3.1)));
        assert_eq!(padded_range([2.0]), Some((1.0, 3.0)));
        assert_eq!(padded_range([f64::NAN]), None);
    }
}
