//! Glucose units: parsing the user's unit names, the conversion to mmol/L (the internal unit)
//! and the sanity check that refuses a file whose values do not look like its declared unit.

use std::path::Path;

use crate::error::{DataError, InputErrorKind, Result};
use crate::series::MGDL_PER_MMOLL;

/// Label stored in `Series::unit` for glucose.
pub const MMOL_PER_L: &str = "mmol/L";

/// A median above this in a "mmol/L" file means the values are really mg/dL
/// (35 mmol/L = 631 mg/dL is far above any CGM's range, while typical mg/dL medians are 100-200).
pub const MMOL_MEDIAN_MAX: f64 = 35.0;
/// A median below this in a "mg/dL" file means the values are really mmol/L
/// (30 mg/dL = 1.7 mmol/L is below any CGM's range, while typical mmol/L medians are 6-11).
pub const MGDL_MEDIAN_MIN: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GlucoseUnit {
    #[serde(rename = "mg/dL")]
    MgDl,
    #[serde(rename = "mmol/L")]
    MmolL,
}

impl GlucoseUnit {
    /// Reads a unit name as users write it (`mg/dL`, `mgdl`, `mmol/L`, `mmol`...).
    pub fn parse(s: &str) -> Option<Self> {
        let k: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match k.as_str() {
            "mgdl" | "mg" => Some(GlucoseUnit::MgDl),
            "mmoll" | "mmol" => Some(GlucoseUnit::MmolL),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            GlucoseUnit::MgDl => "mg/dL",
            GlucoseUnit::MmolL => MMOL_PER_L,
        }
    }

    /// Converts a value in this unit to mmol/L.
    pub fn to_mmol(self, v: f64) -> f64 {
        match self {
            GlucoseUnit::MgDl => v / MGDL_PER_MMOLL,
            GlucoseUnit::MmolL => v,
        }
    }
}

/// Median of the finite values, `None` if there are none.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Refuses glucose values whose median does not fit the unit the format declares.
/// Only called when the user did not state the unit themselves (`unit_override`): a stated
/// unit is trusted.
pub fn check_glucose_unit(
    file: &Path,
    column: &str,
    declared: GlucoseUnit,
    values: impl IntoIterator<Item = f64>,
) -> Result<()> {
    let Some(m) = median(values) else {
        return Ok(());
    };
    let (bad, looks_like) = match declared {
        GlucoseUnit::MmolL => (m > MMOL_MEDIAN_MAX, GlucoseUnit::MgDl),
        GlucoseUnit::MgDl => (m < MGDL_MEDIAN_MIN, GlucoseUnit::MmolL),
    };
    if bad {
        return Err(DataError::input(
            InputErrorKind::WrongUnit,
            file,
            None,
            Some(column),
            format!(
                "{column} has median {m:.1}, which looks like {} but this format is {}; \
                 if that is right, state the unit (--unit \"{}\" or data.unit: \"{}\") to convert it",
                looks_like.label(),
                declared.label(),
                looks_like.label(),
                looks_like.label()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unit_names() {
        assert_eq!(GlucoseUnit::parse("mg/dL"), Some(GlucoseUnit::MgDl));
        assert_eq!(GlucoseUnit::parse("MMOL/L"), Some(GlucoseUnit::MmolL));
        assert_eq!(GlucoseUnit::parse("bpm"), None);
        assert!((GlucoseUnit::MgDl.to_mmol(180.182) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn median_and_unit_check() {
        assert_eq!(median([3.0, f64::NAN, 1.0, 2.0, 10.0]), Some(2.5));
        let p = Path::new("x.csv");
        assert!(check_glucose_unit(p, "bg", GlucoseUnit::MmolL, [6.0, 7.0, 12.0]).is_ok());
        let e = check_glucose_unit(p, "bg", GlucoseUnit::MmolL, [120.0, 140.0]).unwrap_err();
        assert_eq!(e.input_kind(), Some(InputErrorKind::WrongUnit));
        assert!(e.to_string().contains("median 130.0"), "{e}");
        let e = check_glucose_unit(p, "g", GlucoseUnit::MgDl, [7.3, 8.0]).unwrap_err();
        assert!(
            e.to_string()
                .contains("(--unit \"mmol/L\" or data.unit: \"mmol/L\")"),
            "{e}"
        );
    }
}
