//! Physiological features: insulin on board (IOB) and carbs on board (COB).
//!
//! Each dose/intake `u` goes through two absorption compartments with the same time constant
//! `tmax` (Hovorka et al., Physiol Meas 2004): `S1' = u - S1/tmax`, `S2' = (S1 - S2)/tmax`.
//! The amount on board is what has not left the second compartment, `S1 + S2`. Doses are
//! impulses at their step (missing = none given); between steps the linear system is solved
//! exactly, so the result does not depend on the step size:
//! `S1(t+Δ) = S1 e^{-Δ/τ}`, `S2(t+Δ) = (S2 + S1 Δ/τ) e^{-Δ/τ}`. A unit impulse gives
//! `(1 + t/τ) e^{-t/τ}` on board.

/// Insulin absorption time-to-peak, minutes (Hovorka 2004, t_max,I = 55 min).
pub const INSULIN_TMAX_MIN: f64 = 55.0;
/// Carbohydrate absorption time-to-peak, minutes (Hovorka 2004, t_max,G = 40 min).
pub const CARBS_TMAX_MIN: f64 = 40.0;
/// Derived channel names and the channels they come from.
pub const IOB: &str = "iob";
pub const COB: &str = "cob";
pub const INSULIN: &str = "insulin";
pub const CARBS: &str = "carbs";

/// Amount on board at each step of a regular grid with `step_min` minutes between rows.
pub fn on_board(doses: &[f64], step_min: f64, tmax_min: f64) -> Vec<f64> {
    let decay = (-step_min / tmax_min).exp();
    let transfer = step_min / tmax_min;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    doses
        .iter()
        .map(|&u| {
            if !u.is_nan() {
                s1 += u;
            }
            let now = s1 + s2;
            (s1, s2) = (s1 * decay, (s2 + s1 * transfer) * decay);
            now
        })
        .collect()
}

/// `(derived name, source channel, tmax)` when `name` is a derivable feature.
pub fn derivation(name: &str) -> Option<(&'static str, f64)> {
    match name {
        IOB => Some((INSULIN, INSULIN_TMAX_MIN)),
        COB => Some((CARBS, CARBS_TMAX_MIN)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_impulse_matches_closed_form() {
        let mut doses = vec![0.0; 50];
        doses[0] = 1.0;
        let iob = on_board(&doses, 5.0, INSULIN_TMAX_MIN);
        for (k, v) in iob.iter().enumerate() {
            let t = 5.0 * k as f64 / INSULIN_TMAX_MIN;
            assert!((v - (1.0 + t) * (-t).exp()).abs() < 1e-12, "step {k}");
        }
        assert_eq!(iob[0], 1.0);
    }

    #[test]
    fn linear_and_nan_is_no_dose() {
        let a = on_board(&[2.0, f64::NAN, 0.0, 3.0, 0.0], 5.0, CARBS_TMAX_MIN);
        let one = on_board(&[1.0, 0.0, 0.0, 0.0, 0.0], 5.0, CARBS_TMAX_MIN);
        let late = on_board(&[0.0, 0.0, 0.0, 1.0, 0.0], 5.0, CARBS_TMAX_MIN);
        for k in 0..5 {
            assert!((a[k] - (2.0 * one[k] + 3.0 * late[k])).abs() < 1e-12);
        }
        assert_eq!(derivation("iob"), Some((INSULIN, INSULIN_TMAX_MIN)));
        assert_eq!(derivation("hr"), None);
    }
}
