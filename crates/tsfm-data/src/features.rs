//! Physiological features: insulin on board (IOB), carbs on board (COB) and insulin
//! availability (the rate insulin reaches plasma).
//!
//! Each dose/intake `u` goes through two absorption compartments with the same time constant
//! `tmax` (Hovorka et al., Physiol Meas 2004): `S1' = u - S1/tmax`, `S2' = (S1 - S2)/tmax`.
//! The amount on board is what has not left the second compartment, `S1 + S2`. Doses are
//! impulses at their step (missing = none given); between steps the linear system is solved
//! exactly, so the result does not depend on the step size:
//! `S1(t+Δ) = S1 e^{-Δ/τ}`, `S2(t+Δ) = (S2 + S1 Δ/τ) e^{-Δ/τ}`. A unit impulse gives
//! `(1 + t/τ) e^{-t/τ}` on board.
//!
//! Insulin availability is the other half of the same model: the rate at which insulin leaves
//! the second compartment into plasma, `S2/tmax` (Hovorka's `U_I`), in units per hour. A unit
//! impulse gives `t/τ² e^{-t/τ}` per minute: zero at the dose, peaking at `t = τ`. IOB says how
//! much is still to act; availability says how hard it acts now.

/// Insulin absorption time-to-peak, minutes (Hovorka 2004, t_max,I = 55 min).
pub const INSULIN_TMAX_MIN: f64 = 55.0;
/// Carbohydrate absorption time-to-peak, minutes (Hovorka 2004, t_max,G = 40 min).
pub const CARBS_TMAX_MIN: f64 = 40.0;
/// Derived channel names and the channels they come from.
pub const IOB: &str = "iob";
pub const COB: &str = "cob";
pub const INSULIN_AVAILABILITY: &str = "insulin_availability";
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

/// Rate (per hour) at which doses leave the second compartment, `S2/tmax`, at each step of a
/// regular grid with `step_min` minutes between rows; the same exact stepping as [`on_board`].
pub fn appearance_rate(doses: &[f64], step_min: f64, tmax_min: f64) -> Vec<f64> {
    let decay = (-step_min / tmax_min).exp();
    let transfer = step_min / tmax_min;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    doses
        .iter()
        .map(|&u| {
            if !u.is_nan() {
                s1 += u;
            }
            let now = s2 / tmax_min * 60.0;
            (s1, s2) = (s1 * decay, (s2 + s1 * transfer) * decay);
            now
        })
        .collect()
}

/// `(source channel, default tmax)` when `name` is a derivable feature.
pub fn derivation(name: &str) -> Option<(&'static str, f64)> {
    match name {
        IOB | INSULIN_AVAILABILITY => Some((INSULIN, INSULIN_TMAX_MIN)),
        COB => Some((CARBS, CARBS_TMAX_MIN)),
        _ => None,
    }
}

/// The derived feature `name` (see [`derivation`]) from its source channel's doses.
pub fn derive(name: &str, doses: &[f64], step_min: f64, tmax_min: f64) -> Vec<f64> {
    match name {
        INSULIN_AVAILABILITY => appearance_rate(doses, step_min, tmax_min),
        _ => on_board(doses, step_min, tmax_min),
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
    fn insulin_availability_of_a_unit_impulse_matches_closed_form() {
        let tmax = INSULIN_TMAX_MIN;
        let mut doses = vec![0.0; 80];
        doses[0] = 1.0;
        let rate = derive(INSULIN_AVAILABILITY, &doses, 5.0, tmax);
        for (k, v) in rate.iter().enumerate() {
            let t = 5.0 * k as f64;
            let per_minute = t / (tmax * tmax) * (-t / tmax).exp();
            assert!((v - 60.0 * per_minute).abs() < 1e-12, "step {k}: {v}");
        }
        assert_eq!(rate[0], 0.0);
        // Peaks at t = tmax (step 11 is 55 min) and integrates to the dose: 1 U over time.
        let peak = (0..rate.len()).max_by(|&a, &b| rate[a].total_cmp(&rate[b]));
        assert_eq!(peak, Some(11));
        let long: Vec<f64> = std::iter::once(1.0).chain(vec![0.0; 2000]).collect();
        let total: f64 = appearance_rate(&long, 1.0, tmax).iter().sum::<f64>() / 60.0;
        assert!((total - 1.0).abs() < 1e-2, "{total}");
        assert_eq!(
            derivation(INSULIN_AVAILABILITY),
            Some((INSULIN, INSULIN_TMAX_MIN))
        );
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
