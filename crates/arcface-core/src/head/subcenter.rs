use std::f64::consts::PI;

use burn::module::Param;
use burn::prelude::*;

use super::HeadOutput;
use super::arcface::{ThetaOverflow, additive_angular};
use super::common::{check_common, cosine, with_target_margin, xavier_columns};
use crate::{CoreError, l2_normalize};

/// Sub-center ArcFace (Deng et al., ECCV 2020): `K` weight vectors ("sub-centres") per class.
///
/// The class cosine is the largest over the class's sub-centres,
/// `cos(theta_j) = max_k cos(theta_{j,k})`, and the ArcFace margin is applied to the target's, so
/// a noisy or multi-modal class can settle into several clusters (one dominant, the others
/// collecting outliers) instead of one centre pulled between them. With `K = 1` it is ArcFace.
#[derive(Config, Debug)]
pub struct SubCenterArcFaceConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Sub-centres per class, `K` (the paper uses 3).
    #[config(default = 3)]
    pub sub_centers: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
    /// Additive angular margin `m`, radians.
    #[config(default = 0.5)]
    pub margin: f64,
    /// insightface's `easy_margin`: apply the margin only where `cos(theta) > 0`.
    #[config(default = false)]
    pub easy_margin: bool,
    /// Behaviour where `theta + m > pi` (ignored with `easy_margin`); see [`ThetaOverflow`].
    #[config(default = "ThetaOverflow::Exact")]
    pub overflow: ThetaOverflow,
}

/// Sub-center ArcFace head. Build it with [`SubCenterArcFaceConfig::init`].
#[derive(Module, Debug)]
pub struct SubCenterArcFace {
    /// Sub-centre vectors as columns, class-major: column `j * K + k` is sub-centre `k` of class
    /// `j`, `[embedding_dim, classes * K]`.
    weight: Param<Tensor<2>>,
    sub_centers: usize,
    scale: f64,
    margin: f64,
    easy_margin: bool,
    #[module(skip)]
    overflow: ThetaOverflow,
}

impl SubCenterArcFaceConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_common(self.embedding_dim, self.num_classes, self.scale)?;
        if self.sub_centers == 0 {
            return Err(CoreError::OutOfRange {
                key: "sub_centers",
                value: 0.0,
                expected: "a whole number >= 1",
            });
        }
        if !(0.0..PI).contains(&self.margin) {
            return Err(CoreError::OutOfRange {
                key: "margin",
                value: self.margin,
                expected: "an angle in radians in [0, pi)",
            });
        }
        Ok(())
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights over all
    /// `classes * K` columns.
    pub fn init(&self, device: &Device) -> Result<SubCenterArcFace, CoreError> {
        self.validate()?;
        let columns = self.num_classes * self.sub_centers;
        Ok(SubCenterArcFace {
            weight: xavier_columns(self.embedding_dim, columns, device),
            sub_centers: self.sub_centers,
            scale: self.scale,
            margin: self.margin,
            easy_margin: self.easy_margin,
            overflow: self.overflow,
        })
    }
}

impl SubCenterArcFace {
    /// Cosine to each class: the largest over its sub-centres.
    ///
    /// The gradient goes to the closest sub-centre only, which is what lets the others drift
    /// towards outliers.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let all = cosine(self.weight.val(), embeddings);
        let [batch, columns] = all.dims();
        let classes = columns / self.sub_centers;
        all.reshape([batch, classes, self.sub_centers])
            .max_dim(2)
            .reshape([batch, classes])
    }

    /// Training logits (ArcFace margin on the target class) and margin-free logits.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - targets: `[batch]`
    pub fn forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> HeadOutput {
        with_target_margin(self.cosine(embeddings), targets, self.scale, |cos_t| {
            additive_angular(cos_t, self.margin, self.easy_margin, self.overflow)
        })
    }

    /// Margin-free logits `s * max_k cos(theta_k)`.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.cosine(embeddings) * self.scale
    }

    /// One vector per class: the mean of its *normalised* sub-centres.
    ///
    /// Which sub-centre dominates depends on the data, so no single one stands for the class;
    /// the mean of the unit vectors points between them and is longer the more they agree
    /// (length 1 when they coincide). Unlike the other heads these are not the stored weights;
    /// see [`Self::sub_centers`] for those.
    ///
    /// # Shapes
    /// - output: `[classes, embedding_dim]`
    pub fn centers(&self) -> Tensor<2> {
        let [dim, columns] = self.weight.dims();
        let classes = columns / self.sub_centers;
        l2_normalize(self.weight.val().transpose())
            .reshape([classes, self.sub_centers, dim])
            .mean_dim(1)
            .reshape([classes, dim])
    }

    /// The sub-centre vectors as stored (not normalised).
    ///
    /// # Shapes
    /// - output: `[classes, sub_centers, embedding_dim]`
    pub fn sub_centers(&self) -> Tensor<3> {
        let [dim, columns] = self.weight.dims();
        self.weight
            .val()
            .transpose()
            .reshape([columns / self.sub_centers, self.sub_centers, dim])
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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::ArcFaceConfig;

    /// `centres[j][k]` is sub-centre `k` of class `j`.
    fn head(centres: &[&[&[f32]]], overflow: ThetaOverflow, easy: bool) -> SubCenterArcFace {
        let flat: Vec<&[f32]> = centres.iter().flat_map(|c| c.iter().copied()).collect();
        SubCenterArcFace {
            weight: columns(&flat),
            sub_centers: centres[0].len(),
            scale: 15.0,
            margin: 0.5,
            easy_margin: easy,
            overflow,
        }
    }

    fn two_by_two() -> SubCenterArcFace {
        // Class 0 at 0 and 90 degrees, class 1 at 180 and 270 (stored with length 2).
        head(
            &[&[&[1.0, 0.0], &[0.0, 1.0]], &[&[-2.0, 0.0], &[0.0, -2.0]]],
            ThetaOverflow::Exact,
            false,
        )
    }

    #[test]
    fn nearest_sub_centre_and_margin_by_hand() {
        let h = two_by_two();
        // At 60 degrees: class 0's nearest sub-centre is 30 degrees away, class 1's 120.
        let out = h.forward(rows(&[&at_angle(60.0)], false), targets(&[0]));
        let train = values(out.train_logits);
        // cos(30deg + m) = cos30 cos m - sin30 sin m
        let want = 0.75f64.sqrt() * 0.5f64.cos() - 0.5 * 0.5f64.sin();
        assert_close(train[0], 15.0 * want, 1e-4, "target");
        assert_close(train[1], 15.0 * -0.5, 1e-4, "non-target");
        let plain = values(out.logits);
        assert_close(plain[0], 15.0 * 0.75f64.sqrt(), 1e-4, "margin-free");
        assert_close(plain[1], -7.5, 1e-4, "margin-free");
    }

    #[test]
    fn centres_and_sub_centres() {
        let h = two_by_two();
        let half = 0.5f64;
        let want = [half, half, -half, -half];
        for (got, want) in values(h.centers()).iter().zip(want) {
            assert_close(*got, want, 1e-6, "mean of unit sub-centres");
        }
        assert_eq!(h.sub_centers().dims(), [2, 2, 2]);
        assert_eq!(
            values(h.sub_centers()),
            vec![1.0, 0.0, 0.0, 1.0, -2.0, 0.0, 0.0, -2.0]
        );
    }

    #[test]
    fn one_sub_centre_is_arcface() {
        let arc = ArcFaceConfig::new(3, 4).init(&device()).unwrap();
        let h = SubCenterArcFace {
            weight: Param::from_tensor(arc.centers().transpose().detach()),
            sub_centers: 1,
            scale: 15.0,
            margin: 0.5,
            easy_margin: false,
            overflow: ThetaOverflow::Exact,
        };
        let x = rows(
            &[&[0.3, -0.2, 1.0], &[-1.0, 0.5, 0.1], &[0.0, 2.0, -1.0]],
            false,
        );
        let t = [3, 0, 1];
        let got = values(h.forward(x.clone(), targets(&t)).train_logits);
        let want = values(arc.forward(x, targets(&t)).train_logits);
        for (g, w) in got.iter().zip(want) {
            assert_close(*g, w as f64, 1e-5, "K = 1");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let centres: &[&[&[f32]]] = &[
            &[&[1.0, 0.2, -0.3], &[-0.2, -1.0, 0.4]],
            &[&[-0.4, 1.0, 0.1], &[0.9, 0.1, 0.9]],
            &[&[0.2, -0.5, 1.0], &[-1.0, -0.6, -0.2]],
        ];
        let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
        for overflow in [ThetaOverflow::Exact, ThetaOverflow::InsightFace] {
            let h = head(centres, overflow, false);
            check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
        }
    }

    #[test]
    fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
        for easy in [false, true] {
            let h = head(
                &[&[&[0.6, 0.8], &[0.6, 0.8]], &[&[0.0, 1.0], &[1.0, 0.0]]],
                ThetaOverflow::InsightFace,
                easy,
            );
            let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
            assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 0]);
            let h = head(
                &[&[&[0.0, 0.0], &[0.0, 0.0]], &[&[0.0, 1.0], &[1.0, 0.0]]],
                ThetaOverflow::Exact,
                easy,
            );
            let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
            assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 1]);
        }
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let base = SubCenterArcFaceConfig::new(2, 10);
        assert!(matches!(
            base.clone().with_sub_centers(0).init(&device()),
            Err(CoreError::OutOfRange {
                key: "sub_centers",
                ..
            })
        ));
        assert!(matches!(
            base.clone().with_margin(PI).init(&device()),
            Err(CoreError::OutOfRange { key: "margin", .. })
        ));
        assert!(matches!(
            base.clone().with_scale(f64::NAN).init(&device()),
            Err(CoreError::OutOfRange { key: "scale", .. })
        ));
        let h = base.with_sub_centers(3).init(&device()).unwrap();
        assert_eq!(h.sub_centers().dims(), [10, 3, 2]);
        assert_eq!(h.centers().dims(), [10, 2]);
    }
}
