//! The margins of the cosine head, each one function of the target cosine.

use std::f64::consts::PI;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// `cos(theta)` is clamped to `±(1 - CLAMP_EPS)` before `acos`, as in the seed: `acos` has an
/// infinite derivative at ±1, and an embedding that lies exactly on its class centre (or on its
/// antipode) would otherwise send an infinite gradient back. Inside the clamp the derivative is
/// at most about 2,000 in f32; outside it is zero.
const CLAMP_EPS: f64 = 1e-7;

/// What the target logit is where `theta + m` passes `pi`.
///
/// `cos(theta + m)` falls while `theta + m <= pi` and rises again beyond it, so for a sample more
/// than `pi - m` away from its own centre the exact formula *rewards* moving further away. The
/// seed uses the exact formula; the others are offered because they keep the target logit
/// monotonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThetaOverflow {
    /// `cos(theta + m)` everywhere: the seed's (and the ArcFace paper's) formula. Its value and
    /// gradient stay finite beyond `pi` (the gradient is `sin(theta + m) / sin(theta)` times the
    /// scale, bounded by the clamp), but it is not monotonic there.
    Exact,
    /// insightface's fallback: where `theta > pi - m`, use `cos(theta) - m sin(m)` (a CosFace-like
    /// additive cosine margin) which keeps falling with `theta` and has gradient 1 in `cos`.
    InsightFace,
}

/// The margin a cosine head puts on the target class: the target logit is
/// `s * target_cosine(cos(theta_y))`, the other logits `s * cos(theta_j)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Margin {
    /// No margin: NormFace (Wang et al., ACM MM 2017), softmax on normalised features and
    /// weights, where the scale alone lets the softmax become confident.
    None,
    /// CosFace / LMCL (Wang et al., CVPR 2018): `cos(theta) - m`. The margin is taken in cosine
    /// space, so there is no `acos` and the target logit is monotonic on the whole of `[0, pi]`.
    AdditiveCosine {
        /// The cosine margin `m` (the paper's best setting is 0.35).
        m: f64,
    },
    /// ArcFace (Deng et al., CVPR 2019): `cos(theta + m)`.
    AdditiveAngle {
        /// The angular margin `m`, radians.
        m: f64,
        /// insightface's `easy_margin`: apply the margin only where `cos(theta) > 0`.
        easy_margin: bool,
        /// Behaviour where `theta + m > pi` (ignored with `easy_margin`).
        overflow: ThetaOverflow,
    },
    /// SphereFace (Liu et al., CVPR 2017): `theta -> m theta`, with the paper's monotone
    /// extension of `cos(m theta)`:
    ///
    /// `psi(theta) = (-1)^k cos(m theta) - 2k` for `theta` in `[k pi / m, (k + 1) pi / m]`,
    /// `k = floor(m theta / pi)`,
    ///
    /// which falls from 1 at `theta = 0` to `1 - 2m` at `theta = pi`, continuously and with a
    /// continuous derivative (both pieces have slope 0 at the joins).
    ///
    /// Unlike the paper (which keeps the feature norm `|x|` in the logits and only normalises the
    /// weights, "A-Softmax"), features are normalised here too and rescaled by a fixed `s`, as in
    /// insightface's combined-margin code and SphereFace2; the paper's `lambda` annealing (which
    /// blends in the plain `cos theta` early in training) is not implemented.
    MultiplicativeAngle {
        /// The multiplier `m`, a whole number >= 1 (the paper uses 4; 1 is no margin).
        m: f64,
    },
    /// insightface's combined margin `cos(m1 theta + m2) - m3`.
    ///
    /// It contains the others as special cases: `m1 = 1, m3 = 0` is ArcFace (exact overflow, no
    /// easy margin), `m1 = 1, m2 = 0` is CosFace, and `m2 = m3 = 0` is a multiplicative margin
    /// without SphereFace's monotone extension. Like the exact ArcFace formula, the target logit
    /// is not monotonic where `m1 theta + m2` passes `pi`.
    Combined {
        /// Multiplicative angular margin `m1` (1 for none).
        m1: f64,
        /// Additive angular margin `m2`, radians (0 for none).
        m2: f64,
        /// Additive cosine margin `m3` (0 for none).
        m3: f64,
    },
}

impl Margin {
    /// ArcFace's margin `m` with the seed's exact formula and no easy margin.
    pub fn arcface(m: f64) -> Self {
        Margin::AdditiveAngle {
            m,
            easy_margin: false,
            overflow: ThetaOverflow::Exact,
        }
    }

    /// Checks the margin's own range; the error names the hyper-parameter (`margin`, `m1`..).
    pub fn validate(&self) -> Result<(), CoreError> {
        const ANGLE: &str = "an angle in radians in [0, pi)";
        const COSINE: &str = "a cosine margin in [0, 2)";
        match *self {
            Margin::None => Ok(()),
            // Cosines span [-1, 1]: with m >= 2 the target logit is below every other one
            // whatever the embedding, and the loss cannot be lowered by learning.
            Margin::AdditiveCosine { m } => in_range("margin", m, (0.0..2.0).contains(&m), COSINE),
            Margin::AdditiveAngle { m, .. } => in_range("margin", m, (0.0..PI).contains(&m), ANGLE),
            // psi is only continuous for whole m: with a fractional m the last piece ends at
            // theta = pi below its own k range and the extension would jump.
            Margin::MultiplicativeAngle { m } => in_range(
                "margin",
                m,
                m.is_finite() && m >= 1.0 && m.fract() == 0.0,
                "a whole number >= 1",
            ),
            Margin::Combined { m1, m2, m3 } => {
                in_range("m1", m1, m1.is_finite() && m1 > 0.0, "a finite number > 0")?;
                in_range("m2", m2, (0.0..PI).contains(&m2), ANGLE)?;
                in_range("m3", m3, (0.0..2.0).contains(&m3), COSINE)
            }
        }
    }

    /// The target cosine with the margin applied (`cos` clamped before any `acos`).
    ///
    /// # Shapes
    /// - cos_t: `[batch, 1]`
    pub fn target_cosine(&self, cos_t: Tensor<2>) -> Tensor<2> {
        match *self {
            Margin::None => cos_t,
            Margin::AdditiveCosine { m } => cos_t - m,
            Margin::AdditiveAngle {
                m,
                easy_margin,
                overflow,
            } => additive_angle(cos_t, m, easy_margin, overflow),
            Margin::MultiplicativeAngle { m } => multiplicative_angle(cos_t, m),
            Margin::Combined { m1, m2, m3 } => (angle(cos_t) * m1 + m2).cos() - m3,
        }
    }
}

/// `Err(OutOfRange)` naming `key` unless `ok`.
pub(super) fn in_range(
    key: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), CoreError> {
    if ok {
        return Ok(());
    }
    Err(CoreError::OutOfRange {
        key,
        value,
        expected,
    })
}

/// `theta = acos(cos)`, with `cos` clamped to `±(1 - CLAMP_EPS)` first (see [`CLAMP_EPS`]): the
/// derivative of `acos` is infinite at ±1.
fn angle(cos: Tensor<2>) -> Tensor<2> {
    cos.clamp(-1.0 + CLAMP_EPS, 1.0 - CLAMP_EPS).acos()
}

/// `cos(theta + m)`, with insightface's `easy_margin` and the given handling of `theta + m > pi`.
fn additive_angle(
    cos_t: Tensor<2>,
    margin: f64,
    easy_margin: bool,
    overflow: ThetaOverflow,
) -> Tensor<2> {
    let phi = (angle(cos_t.clone()) + margin).cos();
    if easy_margin {
        let keep_plain = cos_t.clone().lower_equal_elem(0.0);
        return phi.mask_where(keep_plain, cos_t);
    }
    match overflow {
        ThetaOverflow::Exact => phi,
        ThetaOverflow::InsightFace => {
            let threshold = (PI - margin).cos();
            let penalty = margin * margin.sin();
            let past_pi = cos_t.clone().lower_equal_elem(threshold);
            phi.mask_where(past_pi, cos_t - penalty)
        }
    }
}

/// SphereFace's `psi(theta)` (see [`Margin::MultiplicativeAngle`]).
fn multiplicative_angle(cos_t: Tensor<2>, m: f64) -> Tensor<2> {
    let theta = angle(cos_t);
    // k is piecewise constant in theta (zero derivative), so it is taken off the graph; the
    // clamp guards the float rounding of m theta / pi at theta near pi.
    let k = (theta.clone().detach() * (m / PI))
        .floor()
        .clamp(0.0, m - 1.0);
    // (-1)^k = 1 - 2 (k mod 2), k being a whole number >= 0.
    let sign = k.clone().remainder_scalar(2.0) * -2.0 + 1.0;
    sign * (theta * m).cos() - k * 2.0
}
