use burn::module::Param;
use burn::prelude::*;

use super::HeadOutput;
use super::common::{angle, check_common, cosine, with_target_margin, xavier_columns};
use crate::CoreError;

/// `cos(theta)` is clamped to `±(1 - CLAMP_EPS)` before `acos`, as in the seed: `acos` has an
/// infinite derivative at ±1, and an embedding that lies exactly on its class centre (or on its
/// antipode) would otherwise send an infinite gradient back. Inside the clamp the derivative is
/// at most about 2,000 in f32; outside it is zero.
pub const CLAMP_EPS: f64 = 1e-7;

/// What the target logit is where `theta + m` passes `pi`.
///
/// `cos(theta + m)` falls while `theta + m <= pi` and rises again beyond it, so for a sample more
/// than `pi - m` away from its own centre the exact formula *rewards* moving further away. The
/// seed uses the exact formula; the others are offered because they keep the target logit
/// monotonic.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ThetaOverflow {
    /// `cos(theta + m)` everywhere: the seed's (and the ArcFace paper's) formula. Its value and
    /// gradient stay finite beyond `pi` (the gradient is `sin(theta + m) / sin(theta)` times the
    /// scale, bounded by the clamp), but it is not monotonic there.
    Exact,
    /// insightface's fallback: where `theta > pi - m`, use `cos(theta) - m sin(m)` (a CosFace-like
    /// additive cosine margin) which keeps falling with `theta` and has gradient 1 in `cos`.
    InsightFace,
}

/// ArcFace (Deng et al., CVPR 2019): additive angular margin on normalised features and weights.
///
/// Target logit `s * cos(theta_y + m)`, other logits `s * cos(theta_j)`, where `theta_j` is the
/// angle between the embedding and the class-`j` weight vector.
#[derive(Config, Debug)]
pub struct ArcFaceConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
    /// Additive angular margin `m`, radians.
    #[config(default = 0.5)]
    pub margin: f64,
    /// insightface's `easy_margin`: apply the margin only where `cos(theta) > 0`.
    #[config(default = false)]
    pub easy_margin: bool,
    /// Behaviour where `theta + m > pi` (ignored with `easy_margin`).
    #[config(default = "ThetaOverflow::Exact")]
    pub overflow: ThetaOverflow,
}

/// ArcFace head. Build it with [`ArcFaceConfig::init`].
#[derive(Module, Debug)]
pub struct ArcFace {
    /// Class weight vectors as columns, `[embedding_dim, classes]`.
    weight: Param<Tensor<2>>,
    scale: f64,
    margin: f64,
    easy_margin: bool,
    #[module(skip)]
    overflow: ThetaOverflow,
}

impl ArcFaceConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_common(self.embedding_dim, self.num_classes, self.scale)?;
        if !(0.0..std::f64::consts::PI).contains(&self.margin) {
            return Err(CoreError::OutOfRange {
                key: "margin",
                value: self.margin,
                expected: "an angle in radians in [0, pi)",
            });
        }
        Ok(())
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights as the seed.
    pub fn init(&self, device: &Device) -> Result<ArcFace, CoreError> {
        self.validate()?;
        Ok(ArcFace {
            weight: xavier_columns(self.embedding_dim, self.num_classes, device),
            scale: self.scale,
            margin: self.margin,
            easy_margin: self.easy_margin,
            overflow: self.overflow,
        })
    }
}

impl ArcFace {
    /// Cosine of the angle between each embedding and each class weight.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        cosine(self.weight.val(), embeddings)
    }

    /// Training logits (margin on the target class) and margin-free logits.
    ///
    /// Only the target column goes through `acos`/`cos`: the other `classes - 1` columns are the
    /// scaled cosines, which keeps the head cheap with thousands of classes.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - targets: `[batch]`
    pub fn forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> HeadOutput {
        with_target_margin(self.cosine(embeddings), targets, self.scale, |cos_t| {
            self.target_cosine(cos_t)
        })
    }

    /// Margin-free logits `s * cos(theta)`.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.cosine(embeddings) * self.scale
    }

    /// `cos(theta + m)` for the target cosines, with the configured handling of `theta + m > pi`.
    ///
    /// # Shapes
    /// - cos_t: `[batch, 1]`
    pub fn target_cosine(&self, cos_t: Tensor<2>) -> Tensor<2> {
        additive_angular(cos_t, self.margin, self.easy_margin, self.overflow)
    }

    /// Class-centre vectors, `[classes, embedding_dim]`.
    pub fn centers(&self) -> Tensor<2> {
        self.weight.val().transpose()
    }

    /// The scale `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The margin `m`, radians.
    pub fn margin(&self) -> f64 {
        self.margin
    }
}

/// `cos(theta + m)` for the target cosines, with insightface's `easy_margin` and the given handling
/// of `theta + m > pi`; shared with [`super::SubCenterArcFace`].
///
/// # Shapes
/// - cos_t: `[batch, 1]`
pub(super) fn additive_angular(
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
            let threshold = (std::f64::consts::PI - margin).cos();
            let penalty = margin * margin.sin();
            let past_pi = cos_t.clone().lower_equal_elem(threshold);
            phi.mask_where(past_pi, cos_t - penalty)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::test_util::{
        self, at_angle, check_gradients, columns, device, rows, targets, tolerance, values,
    };
    use std::f64::consts::PI;

    /// A head whose class weights are the given rows (`[classes][dim]`).
    fn head(centres: &[&[f32]], margin: f64, easy: bool, overflow: ThetaOverflow) -> ArcFace {
        ArcFace {
            weight: columns(centres),
            scale: 15.0,
            margin,
            easy_margin: easy,
            overflow,
        }
    }

    #[test]
    fn logits_match_angle_addition_by_hand() {
        // Embedding at 60 degrees from class 0 (the x axis) and 30 degrees from class 1 (y axis).
        let h = head(
            &[&[1.0, 0.0], &[0.0, 1.0]],
            0.5,
            false,
            ThetaOverflow::Exact,
        );
        let out = h.forward(rows(&[&at_angle(60.0)], false), targets(&[0]));
        let train = values(out.train_logits);
        // cos(60deg + m) = cos60 cos m - sin60 sin m
        let expected_target = 15.0 * (0.5 * 0.5f64.cos() - 0.75f64.sqrt() * 0.5f64.sin());
        assert!(
            (train[0] as f64 - expected_target).abs() < tolerance(1e-4),
            "{train:?} vs {expected_target}"
        );
        assert!((train[1] as f64 - 15.0 * 0.75f64.sqrt()).abs() < tolerance(1e-4));
        let plain = values(out.logits);
        assert!(
            (plain[0] as f64 - 7.5).abs() < tolerance(1e-4),
            "margin-free logit is s*cos60"
        );
    }

    #[test]
    fn logits_agree_with_scalar_reference_on_many_angles() {
        // Independent f64 reference of the seed's formula: s * cos(acos(clamp(c)) + m).
        let reference = |c: f64, m: f64| 15.0 * (c.clamp(-1.0 + 1e-7, 1.0 - 1e-7).acos() + m).cos();
        let h = head(
            &[&[1.0, 0.0], &[-1.0, 0.0]],
            0.5,
            false,
            ThetaOverflow::Exact,
        );
        for deg in [0.0, 10.0, 45.0, 89.0, 135.0, 150.0, 160.0, 179.0, 180.0] {
            let out = h.forward(rows(&[&at_angle(deg)], false), targets(&[0]));
            let got = values(out.train_logits)[0] as f64;
            let want = reference(deg.to_radians().cos(), 0.5);
            assert!((got - want).abs() < 2e-3, "angle {deg}: {got} vs {want}");
        }
    }

    #[test]
    fn theta_plus_margin_beyond_pi() {
        // 170 degrees + 0.5 rad = 3.467 rad > pi.
        let x = at_angle(170.0);
        let exact = head(
            &[&[1.0, 0.0], &[0.0, 1.0]],
            0.5,
            false,
            ThetaOverflow::Exact,
        );
        let got = values(
            exact
                .forward(rows(&[&x], false), targets(&[0]))
                .train_logits,
        )[0] as f64;
        // cos(170deg + 0.5) = -cos(170deg + 0.5 - pi), the exact (non-monotonic) value.
        let want = -15.0 * (170f64.to_radians() + 0.5 - PI).cos();
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");

        let insight = head(
            &[&[1.0, 0.0], &[0.0, 1.0]],
            0.5,
            false,
            ThetaOverflow::InsightFace,
        );
        let got = values(
            insight
                .forward(rows(&[&x], false), targets(&[0]))
                .train_logits,
        )[0] as f64;
        let want = 15.0 * (170f64.to_radians().cos() - 0.5 * 0.5f64.sin());
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
    }

    #[test]
    fn easy_margin_leaves_obtuse_targets_alone() {
        let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 0.5, true, ThetaOverflow::Exact);
        let out = h.forward(
            rows(&[&at_angle(120.0), &at_angle(60.0)], false),
            targets(&[0, 0]),
        );
        let train = values(out.train_logits);
        assert!(
            (train[0] as f64 - 15.0 * -0.5).abs() < tolerance(1e-4),
            "cos <= 0: no margin"
        );
        let want = 15.0 * (PI / 3.0 + 0.5).cos();
        assert!(
            (train[2] as f64 - want).abs() < tolerance(1e-4),
            "cos > 0: margin applied"
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let h = head(
            &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
            0.5,
            false,
            ThetaOverflow::Exact,
        );
        // Targets near, mid and far (theta + m > pi for the last row) from their centres.
        let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
        check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
        let h = head(
            &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
            0.5,
            false,
            ThetaOverflow::InsightFace,
        );
        check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
    }

    fn assert_finite_grads(centres: &[&[f32]], x: &[&[f32]], t: &[i64]) {
        for overflow in [ThetaOverflow::Exact, ThetaOverflow::InsightFace] {
            for easy in [false, true] {
                let h = head(centres, 0.5, easy, overflow);
                test_util::assert_finite_grads(
                    |e, t| h.forward(e, t).train_logits,
                    &h.weight,
                    x,
                    t,
                );
            }
        }
    }

    #[test]
    fn no_nan_when_feature_equals_its_centre_or_its_antipode() {
        assert_finite_grads(
            &[&[0.6, 0.8], &[0.0, 1.0]],
            &[&[0.6, 0.8], &[-0.6, -0.8]],
            &[0, 0],
        );
    }

    #[test]
    fn no_nan_on_zero_vectors() {
        assert_finite_grads(
            &[&[0.0, 0.0], &[0.0, 1.0]],
            &[&[0.0, 0.0], &[1.0, 0.0]],
            &[0, 1],
        );
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let base = ArcFaceConfig::new(2, 10);
        assert!(matches!(
            base.clone().with_scale(0.0).init(&device()),
            Err(CoreError::OutOfRange { key: "scale", .. })
        ));
        assert!(matches!(
            base.clone().with_margin(4.0).init(&device()),
            Err(CoreError::OutOfRange { key: "margin", .. })
        ));
        assert!(matches!(
            ArcFaceConfig::new(0, 10).init(&device()),
            Err(CoreError::ZeroEmbedding)
        ));
        assert!(matches!(
            ArcFaceConfig::new(2, 1).init(&device()),
            Err(CoreError::TooFewClasses(1))
        ));
    }

    #[test]
    fn xavier_uniform_bound() {
        // Xavier-uniform on [3, 1000]: |w| <= sqrt(6 / (3 + 1000)).
        let h = ArcFaceConfig::new(3, 1000).init(&device()).unwrap();
        let w = values(h.weight.val());
        let bound = (6.0f32 / 1003.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound + 1e-6));
        assert!(
            w.iter().any(|v| v.abs() > 0.5 * bound),
            "spread over the range"
        );
    }
}
