//! k-means on directions, and NMI against the labels.

use std::collections::BTreeMap;

use crate::rng::SplitMix64;
use crate::vectors::normalised_rows;

/// Cluster index (0..k) of each row of `points`, by k-means on the rows
/// scaled to unit length: k-means++ seeding (Arthur & Vassilvitskii 2007)
/// from `seed`, then up to `iters` Lloyd iterations with squared Euclidean
/// distance, stopping early when no assignment changes. Deterministic for a
/// given seed. Ties go to the lower centre; a centre left without points
/// keeps its place. `k` is clamped to the number of rows (and at least 1).
pub fn kmeans(points: &[f32], dim: usize, k: usize, seed: u64, iters: usize) -> Vec<usize> {
    if dim == 0 {
        return vec![0; points.len()];
    }
    let x = normalised_rows(points, dim);
    let n = x.len() / dim;
    if n == 0 {
        return Vec::new();
    }
    let k = k.clamp(1, n);
    let row = |i: usize| &x[i * dim..(i + 1) * dim];
    let mut rng = SplitMix64::new(seed);

    let mut centres: Vec<f64> = Vec::with_capacity(k * dim);
    centres.extend_from_slice(row(rng.below(n)));
    let mut d2: Vec<f64> = (0..n).map(|i| dist2(row(i), &centres[..dim])).collect();
    while centres.len() < k * dim {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let mut r = rng.next_f64() * total;
            // Falls back to the last point with weight if rounding runs past the end.
            let mut chosen = d2.iter().rposition(|&d| d > 0.0).unwrap_or(0);
            for (i, &d) in d2.iter().enumerate() {
                if d > 0.0 && r < d {
                    chosen = i;
                    break;
                }
                r -= d;
            }
            chosen
        } else {
            // Fewer distinct points than k: any point will do.
            rng.below(n)
        };
        let c = row(pick).to_vec();
        for (i, d) in d2.iter_mut().enumerate() {
            *d = d.min(dist2(row(i), &c));
        }
        centres.extend(c);
    }

    let mut assign = vec![usize::MAX; n];
    for _ in 0..iters.max(1) {
        let mut changed = false;
        for (i, a) in assign.iter_mut().enumerate() {
            let best = nearest(row(i), &centres, dim);
            changed |= *a != best;
            *a = best;
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &a) in assign.iter().enumerate() {
            counts[a] += 1;
            sums[a * dim..(a + 1) * dim]
                .iter_mut()
                .zip(row(i))
                .for_each(|(s, v)| *s += v);
        }
        for c in 0..k {
            if counts[c] > 0 {
                for (dst, s) in centres[c * dim..(c + 1) * dim]
                    .iter_mut()
                    .zip(&sums[c * dim..(c + 1) * dim])
                {
                    *dst = s / counts[c] as f64;
                }
            }
        }
    }
    assign
}

/// Normalised mutual information with arithmetic-mean normalisation,
/// `2 I(X;Y) / (H(X) + H(Y))` (natural logs; the base cancels), as
/// scikit-learn's default. 1 when both sides are a single cluster (or
/// empty), 0 when only one side is.
///
/// # Panics
/// If the two slices differ in length.
pub fn nmi(labels_true: &[i64], labels_pred: &[usize]) -> f64 {
    assert_eq!(
        labels_true.len(),
        labels_pred.len(),
        "one prediction per label"
    );
    let n = labels_true.len() as f64;
    let mut px: BTreeMap<i64, f64> = BTreeMap::new();
    let mut py: BTreeMap<usize, f64> = BTreeMap::new();
    let mut pxy: BTreeMap<(i64, usize), f64> = BTreeMap::new();
    for (&x, &y) in labels_true.iter().zip(labels_pred) {
        *px.entry(x).or_default() += 1.0;
        *py.entry(y).or_default() += 1.0;
        *pxy.entry((x, y)).or_default() += 1.0;
    }
    if px.len() <= 1 && py.len() <= 1 {
        return 1.0;
    }
    let h = |counts: &mut dyn Iterator<Item = f64>| -> f64 {
        counts.map(|c| c / n).map(|p| -p * p.ln()).sum()
    };
    let hx = h(&mut px.values().copied());
    let hy = h(&mut py.values().copied());
    // Ordered maps: sums in a fixed order, so the result is bit-for-bit repeatable.
    let mi: f64 = pxy
        .iter()
        .map(|(&(x, y), &c)| {
            let p = c / n;
            p * (c * n / (px[&x] * py[&y])).ln()
        })
        .sum();
    let denom = hx + hy;
    if denom <= 0.0 {
        return 1.0;
    }
    // Rounding can leave a hair below 0 for independent partitions.
    (2.0 * mi / denom).clamp(0.0, 1.0)
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(p: &[f64], centres: &[f64], dim: usize) -> usize {
    let mut best = (0, f64::INFINITY);
    for (c, centre) in centres.chunks_exact(dim).enumerate() {
        let d = dist2(p, centre);
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmi_identical_independent_and_by_hand() {
        assert_eq!(nmi(&[0, 0, 1, 1, 2], &[5, 5, 3, 3, 0]), 1.0);
        assert!(nmi(&[0, 0, 1, 1], &[0, 1, 0, 1]).abs() < 1e-12);
        assert_eq!(nmi(&[4, 4, 4], &[1, 1, 1]), 1.0);
        assert_eq!(nmi(&[4, 4, 5], &[1, 1, 1]), 0.0);
        // true [0,0,1,1], pred [0,0,0,1]. p(x) = 1/2, 1/2; p(y) = 3/4, 1/4.
        // Joint: (0,0) 1/2, (1,0) 1/4, (1,1) 1/4.
        // I = 1/2 ln(1/2 / (1/2·3/4)) + 1/4 ln(1/4 / (1/2·3/4)) + 1/4 ln(1/4 / (1/2·1/4))
        //   = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2 = 0.215762
        // H(X) = ln 2 = 0.693147, H(Y) = -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.562335
        // NMI = 2·0.215762 / 1.255482 = 0.343711
        let i = 0.5 * (4.0f64 / 3.0).ln() + 0.25 * (2.0f64 / 3.0).ln() + 0.25 * 2f64.ln();
        let hy = -(0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        let want = 2.0 * i / (2f64.ln() + hy);
        let got = nmi(&[0, 0, 1, 1], &[0, 0, 0, 1]);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert!((got - 0.343711).abs() < 1e-6, "{got}");
    }

    #[test]
    fn kmeans_recovers_three_directions() {
        // 3 directions in 5-D with jitter and lengths from 0.5 to 5: normalising
        // first makes length irrelevant.
        let mut points = Vec::new();
        let mut labels = Vec::new();
        let mut rng = SplitMix64::new(11);
        for i in 0..60 {
            let c = (i * 7) % 3;
            let scale = 0.5 + 4.5 * rng.next_f64();
            let mut v = [0f32; 5];
            v[c] = 1.0;
            v[4] = if c == 0 { 0.3 } else { -0.2 };
            for x in &mut v {
                *x = (*x + 0.1 * (rng.next_f64() as f32 - 0.5)) * scale as f32;
            }
            points.extend(v);
            labels.push(c as i64);
        }
        for seed in 0..5 {
            let a = kmeans(&points, 5, 3, seed, 50);
            assert!((nmi(&labels, &a) - 1.0).abs() < 1e-12, "seed {seed}: {a:?}");
            assert_eq!(a, kmeans(&points, 5, 3, seed, 50));
        }
    }

    #[test]
    fn kmeans_edge_cases() {
        assert!(kmeans(&[], 2, 3, 0, 10).is_empty());
        // More clusters than points, and duplicate points.
        let a = kmeans(&[1.0, 0.0, 1.0, 0.0], 2, 5, 0, 10);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0], a[1]);
        assert_eq!(kmeans(&[1.0, 0.0, 0.0, 1.0], 2, 0, 0, 10), vec![0, 0]);
    }
}
