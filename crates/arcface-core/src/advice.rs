//! Checks a head's scale `s` and margin against what `C` classes in `D` dimensions allow, before a
//! run is started that cannot converge.
//!
//! Two facts decide it, both about the best case where every sample sits on its class centre:
//!
//! - **The margin must fit between centres.** However the `C` centres are placed on the unit
//!   sphere `S^(D-1)`, two of them are at most `delta(C, D)` apart (the best possible smallest
//!   angle). A sample on its centre beats its neighbour's logit only if the head's target logit at
//!   `theta = 0` is above `cos(delta)`: ArcFace needs `m < delta`, CosFace `m < 1 - cos(delta)`
//!   (CosFace, Wang et al. 2018, section 3.4: `m <= 1 - cos(2 pi / C)` for 2-D features and
//!   `m <= C / (C - 1)` when `C <= D + 1`), the combined margin `cos(m2) - m3 > cos(delta)`.
//!   `delta` is `2 pi / C` on the circle, the regular simplex's `arccos(-1 / (C - 1))` when
//!   `C <= D + 1`, the Tammes problem's known optima on the sphere for `C <= 24` (Sloane's tables)
//!   and Fejes Toth's bound `arccos((cot^2 w - 1) / 2)`, `w = C / (C - 2) * pi / 6` (1943) above;
//!   in more dimensions the simplex angle is the bound.
//! - **The scale must let the softmax reach a confident posterior.** With normalised features the
//!   loss is bounded below by the posterior a sample on its centre gets (NormFace, Wang et al.
//!   2017, proposition 2); CosFace (Wang et al. 2018, eq. 7) turns it into the lower bound
//!   `s >= (C - 1) / C * ln((C - 1) P / (1 - P))` for a target posterior `P` with centres on a
//!   simplex. Here the same posterior is computed for the head's own target logit (margin
//!   included) and the best placement of the other centres (evenly on the circle for 2-D, the
//!   simplex bound otherwise). A scale whose best posterior stays below
//!   [`WARN_BELOW_POSTERIOR`] (a loss floor of `-ln 0.8 = 0.22`) is flagged, and the scale that
//!   reaches [`TARGET_POSTERIOR`] is suggested.

use crate::head::{HeadConfig, Margin};

/// The posterior a suggested scale lets a sample on its centre reach (CosFace's `P_W`).
pub const TARGET_POSTERIOR: f64 = 0.9;
/// A scale whose best posterior is below this is flagged.
pub const WARN_BELOW_POSTERIOR: f64 = 0.8;

/// One warning about a head's settings, with the value that would fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// The config key, e.g. `margin`, `scale`, `m2`.
    pub key: &'static str,
    /// The value configured.
    pub value: f64,
    /// A value that avoids the problem.
    pub suggested: f64,
    /// What goes wrong, in a sentence.
    pub reason: String,
}

/// Best-known smallest angle (degrees) between `n` points on the 2-sphere (Tammes problem),
/// `n = 2..=24`.
const TAMMES_DEG: [f64; 23] = [
    180.0, 120.0, 109.4712, 90.0, 90.0, 77.8695, 74.8585, 70.5288, 66.1468, 63.4349, 63.4349,
    57.1367, 55.6706, 53.6579, 52.2444, 51.0903, 49.5567, 47.6919, 47.4310, 45.6132, 44.7402,
    43.7100, 43.6908,
];

/// The largest possible smallest angle (radians) between `classes` unit vectors in `dim`
/// dimensions: exact where known, otherwise an upper bound (see the module docs).
pub fn best_center_angle(classes: usize, dim: usize) -> f64 {
    use std::f64::consts::PI;
    let c = classes.max(2) as f64;
    if classes <= dim + 1 {
        return (-1.0 / (c - 1.0)).acos();
    }
    match dim {
        0 | 1 => PI,
        2 => 2.0 * PI / c,
        3 if classes <= 24 => TAMMES_DEG[classes - 2].to_radians(),
        3 => {
            let w = c / (c - 2.0) * PI / 6.0;
            let cot2 = (w.cos() / w.sin()).powi(2);
            ((cot2 - 1.0) / 2.0).acos()
        }
        // The simplex angle bounds every dimension from above.
        _ => (-1.0 / (c - 1.0)).acos(),
    }
}

/// Cosines between one centre and the others in the best placement used for the scale bound.
fn other_cosines(classes: usize, dim: usize) -> Vec<f64> {
    if dim == 2 && classes > 3 {
        (1..classes)
            .map(|k| (2.0 * std::f64::consts::PI * k as f64 / classes as f64).cos())
            .collect()
    } else {
        vec![-1.0 / (classes.max(2) as f64 - 1.0); classes.saturating_sub(1)]
    }
}

/// Softmax posterior of a sample whose target logit is `s * target` and whose other logits are
/// `s * others`.
pub fn centre_posterior(scale: f64, target: f64, others: &[f64]) -> f64 {
    let rest: f64 = others.iter().map(|c| (scale * (c - target)).exp()).sum();
    1.0 / (1.0 + rest)
}

/// The smallest scale at which a sample on its centre reaches `posterior`, or `None` when no
/// scale does (the target logit is not above every other one).
pub fn min_scale(target: f64, others: &[f64], posterior: f64) -> Option<f64> {
    if others.iter().any(|&c| c >= target) {
        return None;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while centre_posterior(hi, target, others) < posterior {
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    // The posterior rises monotonically with the scale when the target logit is the largest.
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if centre_posterior(mid, target, others) < posterior {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// CosFace's closed-form lower bound on `s` (eq. 7) for `classes` classes.
pub fn cosface_scale_bound(classes: usize, posterior: f64) -> f64 {
    let c = classes as f64;
    (c - 1.0) / c * ((c - 1.0) * posterior / (1.0 - posterior)).ln()
}

impl HeadConfig {
    /// Warnings about settings that keep this head from converging on `C` classes in `D`
    /// dimensions; empty when the scale and margin are feasible (or the head has neither).
    pub fn advice(&self) -> Vec<Advice> {
        let HeadConfig::Cosine(c) = self else {
            return Vec::new();
        };
        let (classes, dim, scale) = (c.num_classes, c.embedding_dim, c.scale);
        // The target cosine of a sample on its own centre (theta = 0), and the margin key.
        let (target, margin_key) = match c.margin {
            Margin::None => (1.0, None),
            Margin::AdditiveAngle { m, .. } => (m.cos(), Some(("margin", m))),
            Margin::AdditiveCosine { m } => (1.0 - m, Some(("margin", m))),
            // The multiplicative margin vanishes at theta = 0: only the scale matters.
            Margin::MultiplicativeAngle { .. } => (1.0, None),
            Margin::Combined { m2, m3, .. } => (m2.cos() - m3, Some(("m2", m2))),
        };
        let cosine_margin = matches!(c.margin, Margin::AdditiveCosine { .. });
        if classes < 2 || dim == 0 {
            return Vec::new();
        }
        let delta = best_center_angle(classes, dim);
        let mut advice = Vec::new();
        let mut target = target;
        if let Some((key, value)) = margin_key
            && target <= delta.cos()
        {
            // Half the room between centres leaves each class a cap of delta / 4.
            let (suggested, room) = if cosine_margin {
                ((1.0 - delta.cos()) / 2.0, 1.0 - delta.cos())
            } else {
                (delta / 2.0, delta)
            };
            advice.push(Advice {
                key,
                value,
                suggested,
                reason: format!(
                    "{classes} class centres in {dim}-D are at best {:.1} degrees apart, so a margin \
                     of {value} cannot be met even by a sample on its own centre (it must stay below \
                     {room:.3}); the loss will not go down",
                    delta.to_degrees()
                ),
            });
            target = if cosine_margin {
                1.0 - suggested
            } else {
                suggested.cos()
            };
        }
        let others = other_cosines(classes, dim);
        if let Some(floor) = min_scale(target, &others, WARN_BELOW_POSTERIOR)
            && scale < floor
            && let Some(needed) = min_scale(target, &others, TARGET_POSTERIOR)
        {
            advice.push(Advice {
                key: "scale",
                value: scale,
                suggested: (needed * 10.0).ceil() / 10.0,
                reason: format!(
                    "with s = {scale} a sample on its own centre gets a posterior of at most \
                     {:.2} among {classes} classes in {dim}-D (a loss floor of {:.2}); a posterior \
                     of {TARGET_POSTERIOR} needs s >= {needed:.2} (CosFace's bound, margin included)",
                    centre_posterior(scale, target, &others),
                    -centre_posterior(scale, target, &others).ln()
                ),
            });
        }
        advice
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{CosineHeadConfig, SoftmaxHeadConfig};

    fn arcface(dim: usize, classes: usize, scale: f64, m: f64) -> HeadConfig {
        let head = CosineHeadConfig::arcface(dim, classes);
        HeadConfig::Cosine(head.with_scale(scale).with_margin(Margin::arcface(m)))
    }

    fn normface(dim: usize, classes: usize, scale: f64) -> HeadConfig {
        HeadConfig::Cosine(CosineHeadConfig::normface(dim, classes).with_scale(scale))
    }

    fn deg(classes: usize, dim: usize) -> f64 {
        best_center_angle(classes, dim).to_degrees()
    }

    #[test]
    fn centre_angles_match_known_configurations() {
        // Evenly spaced on the circle.
        assert!((deg(8, 2) - 45.0).abs() < 1e-9);
        assert!((deg(10, 2) - 36.0).abs() < 1e-9);
        // Regular simplex: an equilateral triangle, a tetrahedron.
        assert!((deg(3, 2) - 120.0).abs() < 1e-9);
        assert!((deg(4, 3) - (-1.0f64 / 3.0).acos().to_degrees()).abs() < 1e-9);
        // Octahedron and icosahedron (Tammes n = 6, 12).
        assert!((deg(6, 3) - 90.0).abs() < 1e-9);
        assert!((deg(12, 3) - 63.4349).abs() < 1e-3);
        assert!((deg(10, 3) - 66.1468).abs() < 1e-3);
    }

    #[test]
    fn fejes_toth_bound_is_exact_where_it_is_attained() {
        // The formula past the table agrees with the icosahedron when evaluated at n = 12 ...
        let w = 12.0 / 10.0 * std::f64::consts::PI / 6.0;
        let at12 = (((w.cos() / w.sin()).powi(2) - 1.0) / 2.0)
            .acos()
            .to_degrees();
        assert!((at12 - 63.4349).abs() < 1e-3);
        // ... and past the table it keeps falling, roughly as sqrt(8 pi / (sqrt 3 n)).
        let (a30, a100) = (deg(30, 3), deg(100, 3));
        assert!(a30 < deg(24, 3) && a100 < a30);
        let approx = (8.0 * std::f64::consts::PI / (3f64.sqrt() * 100.0))
            .sqrt()
            .to_degrees();
        assert!((a100 - approx).abs() < 2.0, "{a100} vs {approx}");
    }

    #[test]
    fn scale_bound_matches_cosface_closed_form_on_a_simplex() {
        // Two classes: P = 1 / (1 + e^(-2s)) = 0.9 gives s = ln 9 / 2.
        let two = min_scale(1.0, &other_cosines(2, 2), 0.9).unwrap();
        assert!((two - 9f64.ln() / 2.0).abs() < 1e-9);
        assert!((cosface_scale_bound(2, 0.9) - 9f64.ln() / 2.0).abs() < 1e-12);
        // Ten classes on a simplex (D >= 9): 0.9 ln 81.
        let ten = min_scale(1.0, &other_cosines(10, 16), 0.9).unwrap();
        assert!((ten - 0.9 * 81f64.ln()).abs() < 1e-6);
        assert!((cosface_scale_bound(10, 0.9) - 0.9 * 81f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_seed_settings_get_no_advice() {
        let mnist = arcface(3, 10, 15.0, 0.5);
        assert_eq!(mnist.advice(), vec![]);
        let demo = arcface(2, 8, 10.0, 0.3);
        assert_eq!(demo.advice(), vec![]);
        assert_eq!(
            HeadConfig::Softmax(SoftmaxHeadConfig::new(2, 1000)).advice(),
            vec![]
        );
    }

    #[test]
    fn a_margin_wider_than_the_gap_between_centres_is_flagged() {
        // 20 classes on the circle are 18 degrees = 0.314 rad apart: m = 0.5 cannot fit.
        let head = arcface(2, 20, 30.0, 0.5);
        let advice = head.advice();
        assert_eq!(advice[0].key, "margin");
        assert!((advice[0].suggested - 0.1 * std::f64::consts::PI / 2.0).abs() < 1e-9);
        // CosFace: room is 1 - cos(18 deg) = 0.0489.
        let cos = CosineHeadConfig::cosface(2, 20)
            .with_scale(64.0)
            .with_margin(Margin::AdditiveCosine { m: 0.35 });
        let cos = HeadConfig::Cosine(cos);
        let advice = cos.advice();
        assert_eq!(advice[0].key, "margin");
        let room = 1.0 - 18f64.to_radians().cos();
        assert!((advice[0].suggested - room / 2.0).abs() < 1e-9);
        // The combined margin is judged on cos(m2) - m3 at theta = 0.
        let comb = CosineHeadConfig::combined(2, 20).with_margin(Margin::Combined {
            m1: 1.0,
            m2: 0.5,
            m3: 0.0,
        });
        let comb = HeadConfig::Cosine(comb);
        assert_eq!(comb.advice()[0].key, "m2");
    }

    #[test]
    fn a_scale_too_small_for_the_class_count_is_flagged() {
        // 1000 classes on a simplex: P = 0.8 needs s >= 0.999 ln(999 * 4) = 8.28, and the
        // suggestion reaches P = 0.9: 0.999 ln(999 * 9) = 9.09.
        let head = normface(999, 1000, 4.0);
        let advice = head.advice();
        assert_eq!(advice.len(), 1);
        assert_eq!(advice[0].key, "scale");
        let suggest = 0.999 * (999.0f64 * 9.0).ln();
        assert!(advice[0].suggested >= suggest && advice[0].suggested < suggest + 0.1);
        let floor = 0.999 * (999.0f64 * 4.0).ln();
        let fine = normface(999, 1000, floor + 0.01);
        assert_eq!(fine.advice(), vec![]);
        let flagged = normface(999, 1000, floor - 0.01);
        assert_eq!(flagged.advice().len(), 1);
    }
}
