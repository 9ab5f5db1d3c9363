//! Verification pairs drawn from labelled samples, and their scores.

use std::collections::{BTreeMap, HashSet};

use crate::rng::SplitMix64;
use crate::vectors::{dot, normalised_rows};

/// Index pairs into a sample set: `(a[i], b[i])` with `a[i] < b[i]`, and
/// whether the two share a label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs {
    /// First sample of each pair (the smaller index).
    pub a: Vec<usize>,
    /// Second sample of each pair (the larger index).
    pub b: Vec<usize>,
    /// True where both samples have the same label.
    pub same: Vec<bool>,
}

impl Pairs {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.same.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.same.is_empty()
    }
}

/// Every same-label pair `i < j`, or, when there are more than
/// `max_positive`, a uniform sample of `max_positive` of them without
/// repetition; then as many distinct different-label pairs, sampled
/// uniformly (all of them when there are fewer). The pairs come out in a
/// seeded random order, positives and negatives mixed. The same labels and
/// seed always give the same pairs.
pub fn make_pairs(labels: &[i64], seed: u64, max_positive: usize) -> Pairs {
    let mut rng = SplitMix64::new(seed);
    // Groups in label order keep the sampling independent of hash order.
    let mut by_label: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_label.entry(l).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = by_label.into_values().collect();
    let n = labels.len() as u128;
    let total_pos: u128 = groups.iter().map(|g| choose2(g.len())).sum();
    let total_neg = n * n.saturating_sub(1) / 2 - total_pos;

    let positives = if total_pos <= max_positive as u128 {
        let mut all = Vec::new();
        for g in &groups {
            for (x, &i) in g.iter().enumerate() {
                all.extend(g[x + 1..].iter().map(|&j| (i, j)));
            }
        }
        all
    } else if 2 * max_positive as u128 >= total_pos {
        // Dense: one pass over all pairs keeps each with the exact probability
        // still needed (Knuth's selection sampling), with no duplicates to redo.
        let mut sel = Selection::new(max_positive, total_pos);
        let mut out = Vec::with_capacity(max_positive);
        for g in &groups {
            for (x, &i) in g.iter().enumerate() {
                for &j in &g[x + 1..] {
                    if sel.take(&mut rng) {
                        out.push((i, j));
                    }
                }
            }
        }
        out
    } else {
        // Sparse: draw a group by its pair count, then two distinct members;
        // each pair is equally likely and at most half the draws repeat.
        let weights: Vec<u128> = groups.iter().map(|g| choose2(g.len())).collect();
        sample_distinct(max_positive, &mut rng, |rng| {
            let g = &groups[pick_weighted(&weights, rng)];
            let x = rng.below(g.len());
            let mut y = rng.below(g.len() - 1);
            if y >= x {
                y += 1;
            }
            ordered(g[x], g[y])
        })
    };

    let need = positives.len() as u128;
    let negatives = if need >= total_neg {
        let mut all = Vec::new();
        for i in 0..labels.len() {
            all.extend(
                (i + 1..labels.len())
                    .filter(|&j| labels[i] != labels[j])
                    .map(|j| (i, j)),
            );
        }
        all
    } else if 2 * need >= total_neg {
        let mut sel = Selection::new(positives.len(), total_neg);
        let mut out = Vec::with_capacity(positives.len());
        for i in 0..labels.len() {
            for j in i + 1..labels.len() {
                if labels[i] != labels[j] && sel.take(&mut rng) {
                    out.push((i, j));
                }
            }
        }
        out
    } else {
        // A group weighted by the ordered negatives that start in it, one of
        // its members, then a uniform sample from outside the group: every
        // ordered negative pair has the same chance.
        let flat: Vec<usize> = groups.iter().flatten().copied().collect();
        let mut starts = Vec::with_capacity(groups.len());
        let mut s = 0;
        for g in &groups {
            starts.push(s);
            s += g.len();
        }
        let weights: Vec<u128> = groups
            .iter()
            .map(|g| g.len() as u128 * (n - g.len() as u128))
            .collect();
        sample_distinct(positives.len(), &mut rng, |rng| {
            let gi = pick_weighted(&weights, rng);
            let g = &groups[gi];
            let i = g[rng.below(g.len())];
            let mut r = rng.below(flat.len() - g.len());
            if r >= starts[gi] {
                r += g.len();
            }
            ordered(i, flat[r])
        })
    };

    let mut all: Vec<(usize, usize, bool)> = positives
        .into_iter()
        .map(|(i, j)| (i, j, true))
        .chain(negatives.into_iter().map(|(i, j)| (i, j, false)))
        .collect();
    for k in (1..all.len()).rev() {
        let r = rng.below(k + 1);
        all.swap(k, r);
    }
    Pairs {
        a: all.iter().map(|p| p.0).collect(),
        b: all.iter().map(|p| p.1).collect(),
        same: all.iter().map(|p| p.2).collect(),
    }
}

/// Cosine similarity of each pair of rows of `points` (`dim` values a row),
/// computed in f64; a pair with a zero vector scores 0.
///
/// # Panics
/// If a pair indexes past the last row.
pub fn cosine_scores(points: &[f32], dim: usize, pairs: &Pairs) -> Vec<f64> {
    if dim == 0 {
        return vec![0.0; pairs.len()];
    }
    let unit = normalised_rows(points, dim);
    let row = |i: usize| &unit[i * dim..(i + 1) * dim];
    pairs
        .a
        .iter()
        .zip(&pairs.b)
        .map(|(&i, &j)| dot(row(i), row(j)))
        .collect()
}

fn choose2(n: usize) -> u128 {
    let n = n as u128;
    n * n.saturating_sub(1) / 2
}

fn ordered(i: usize, j: usize) -> (usize, usize) {
    if i < j { (i, j) } else { (j, i) }
}

/// Index drawn with probability proportional to its weight (not all zero).
fn pick_weighted(weights: &[u128], rng: &mut SplitMix64) -> usize {
    let total: u128 = weights.iter().sum();
    // 64 random bits scaled to the total: exact enough for any realistic count.
    let mut r = (u128::from(rng.next_u64()) * total) >> 64;
    for (i, &w) in weights.iter().enumerate() {
        if r < w {
            return i;
        }
        r -= w;
    }
    weights.len() - 1
}

/// `count` distinct draws, kept in the order first drawn so the result does
/// not depend on hash order. Callers keep `count` at most half the pairs
/// possible, so this ends after about twice `count` draws at worst.
fn sample_distinct(
    count: usize,
    rng: &mut SplitMix64,
    mut draw: impl FnMut(&mut SplitMix64) -> (usize, usize),
) -> Vec<(usize, usize)> {
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let p = draw(rng);
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

/// Knuth's algorithm S: keeps exactly `want` of `total` items seen in turn.
struct Selection {
    want: u128,
    left: u128,
}

impl Selection {
    fn new(want: usize, total: u128) -> Self {
        Self {
            want: want as u128,
            left: total,
        }
    }

    fn take(&mut self, rng: &mut SplitMix64) -> bool {
        if self.left == 0 {
            return false;
        }
        let keep = (self.left as f64) * rng.next_f64() < self.want as f64;
        self.left -= 1;
        if keep {
            self.want -= 1;
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_valid(labels: &[i64], p: &Pairs) {
        let mut seen = HashSet::new();
        for k in 0..p.len() {
            let (i, j) = (p.a[k], p.b[k]);
            assert!(i < j && j < labels.len(), "pair {k}: ({i}, {j})");
            assert_eq!(p.same[k], labels[i] == labels[j], "pair {k}: ({i}, {j})");
            assert!(seen.insert((i, j)), "pair ({i}, {j}) twice");
        }
    }

    #[test]
    fn all_positives_under_the_cap_and_as_many_negatives() {
        // Classes of 3, 2, 1, 4 samples: 3 + 1 + 0 + 6 = 10 positive pairs out of 45.
        let labels = [5, 5, 5, -1, -1, 9, 2, 2, 2, 2];
        let p = make_pairs(&labels, 1, 100);
        check_valid(&labels, &p);
        assert_eq!(p.same.iter().filter(|&&s| s).count(), 10);
        assert_eq!(p.len(), 20);
        assert_eq!(p, make_pairs(&labels, 1, 100));
        let other = make_pairs(&labels, 2, 100);
        assert_ne!(
            p, other,
            "a different seed should draw different negatives or order"
        );
    }

    #[test]
    fn capped_positives_are_a_sample() {
        // 2 classes of 30: 2 * 435 = 870 positives, 900 negatives. The cap of 100 takes the
        // sparse path, 500 the dense one, and the negatives likewise.
        let labels: Vec<i64> = (0..60).map(|i| i / 30).collect();
        for cap in [100, 500] {
            let p = make_pairs(&labels, 7, cap);
            check_valid(&labels, &p);
            assert_eq!(p.same.iter().filter(|&&s| s).count(), cap);
            assert_eq!(p.len(), 2 * cap);
            assert_eq!(p, make_pairs(&labels, 7, cap));
        }
    }

    #[test]
    fn fewer_negatives_than_positives_takes_them_all() {
        // 4 + 3 samples: 6 + 3 = 9 positives, only 12 negatives; with one odd sample, 15 vs 5.
        let labels = [0, 0, 0, 0, 0, 0, 1];
        let p = make_pairs(&labels, 0, 1000);
        check_valid(&labels, &p);
        assert_eq!(p.same.iter().filter(|&&s| s).count(), 15);
        assert_eq!(p.same.iter().filter(|&&s| !s).count(), 6);
        assert!(make_pairs(&[], 0, 10).is_empty());
        assert!(make_pairs(&[1, 1], 0, 0).is_empty());
    }

    #[test]
    fn cosine_scores_by_hand() {
        let points = [1.0f32, 0.0, 0.0, 2.0, 3.0, 3.0, 0.0, 0.0];
        let pairs = Pairs {
            a: vec![0, 0, 1, 0],
            b: vec![1, 2, 2, 3],
            same: vec![true; 4],
        };
        let s = cosine_scores(&points, 2, &pairs);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let want = [0.0, h, h, 0.0];
        for (got, want) in s.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{s:?}");
        }
    }
}
