//! Leave-one-out retrieval: every sample queries all the others by cosine
//! similarity (Musgrave et al. 2020).

use std::cmp::Ordering;

use crate::vectors::{dot, normalised_rows};

/// P@1 and MAP@R from one pass over the queries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retrieval {
    pub precision_at_1: f64,
    pub map_at_r: f64,
}

/// Fraction of queries whose nearest other sample (highest cosine, lower
/// index on ties) has the query's label. Queries whose label no other
/// sample has are left out; NaN when that leaves none.
///
/// # Panics
/// If `points.len() != labels.len() * dim`.
pub fn precision_at_1(points: &[f32], dim: usize, labels: &[i64]) -> f64 {
    retrieval(points, dim, labels).precision_at_1
}

/// Mean average precision at R (Musgrave et al. 2020): for a query with
/// R > 0 other samples of its class, rank the other samples by cosine
/// (lower index first on ties) and take `(1/R) Σ_{i=1..R} P(i)·rel(i)`,
/// where P(i) is the precision of the top i; average over those queries.
/// NaN when no query has R > 0.
///
/// # Panics
/// If `points.len() != labels.len() * dim`.
pub fn map_at_r(points: &[f32], dim: usize, labels: &[i64]) -> f64 {
    retrieval(points, dim, labels).map_at_r
}

pub(crate) fn retrieval(points: &[f32], dim: usize, labels: &[i64]) -> Retrieval {
    assert_eq!(
        points.len(),
        labels.len() * dim,
        "one row of `dim` values per label"
    );
    let n = labels.len();
    let unit = normalised_rows(points, dim);
    let row = |i: usize| &unit[i * dim..(i + 1) * dim];
    let mut class_size = std::collections::HashMap::new();
    for &l in labels {
        *class_size.entry(l).or_insert(0usize) += 1;
    }
    let (mut queries, mut hits, mut ap_sum) = (0usize, 0usize, 0.0);
    let mut sims = vec![0.0; n];
    let mut others: Vec<usize> = Vec::with_capacity(n);
    for q in 0..n {
        let r = class_size.get(&labels[q]).copied().unwrap_or(1) - 1;
        if r == 0 {
            continue;
        }
        for (j, s) in sims.iter_mut().enumerate() {
            *s = dot(row(q), row(j));
        }
        others.clear();
        others.extend((0..n).filter(|&j| j != q));
        // A total order (similarity, then index) makes the ranking unique.
        let rank =
            |&i: &usize, &j: &usize| -> Ordering { sims[j].total_cmp(&sims[i]).then(i.cmp(&j)) };
        // Only the top R matter: select them, then sort just those.
        if r < others.len() {
            others.select_nth_unstable_by(r - 1, rank);
            others.truncate(r);
        }
        others.sort_unstable_by(rank);
        let rel: Vec<bool> = others.iter().map(|&j| labels[j] == labels[q]).collect();
        queries += 1;
        hits += usize::from(rel[0]);
        ap_sum += average_precision_at_r(&rel, r);
    }
    let q = queries as f64;
    Retrieval {
        precision_at_1: hits as f64 / q,
        map_at_r: ap_sum / q,
    }
}

/// `(1/r) Σ P(i)·rel(i)` over the ranked relevance of the top `r`.
fn average_precision_at_r(rel: &[bool], r: usize) -> f64 {
    let mut found = 0usize;
    let mut sum = 0.0;
    for (i, _) in rel.iter().enumerate().take(r).filter(|&(_, &hit)| hit) {
        found += 1;
        sum += found as f64 / (i + 1) as f64;
    }
    sum / r as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle(deg: &[f64]) -> Vec<f32> {
        deg.iter()
            .flat_map(|d| [d.to_radians().cos() as f32, d.to_radians().sin() as f32])
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // Points on the unit circle (index: angle, label); cosine ranks by angular gap.
    //   0: 0° A, 1: 12° A, 2: 20° B, 3: 31° A, 4: 45° A, 5: 60° B, 6: 200° C (alone).
    // Query 0 (A, R=3): gaps 1:12 2:20 3:31 ... -> rel 1,0,1 -> (1 + 2/3)/3 = 5/9
    //   (the Musgrave-style [1,0,1,1,...] case); top-1 hit.
    // Query 1 (A, R=3): gaps 2:8 0:12 3:19 -> rel 0,1,1 -> (1/2 + 2/3)/3 = 7/18; miss.
    // Query 2 (B, R=1): nearest 1 (8°, A) -> 0; miss.
    // Query 3 (A, R=3): gaps 2:11 4:14 1:19 -> rel 0,1,1 -> 7/18; miss.
    // Query 4 (A, R=3): gaps 3:14 5:15 2:25 -> rel 1,0,0 -> 1/3; hit.
    // Query 5 (B, R=1): nearest 4 (15°, A) -> 0; miss.
    // Query 6 has R=0 and is left out; at 140°+ from all, it never enters a top R.
    // MAP@R = (5/9 + 7/18 + 0 + 7/18 + 1/3 + 0)/6 = (30/18)/6 = 5/18; P@1 = 2/6.
    #[test]
    fn worked_example_on_a_circle() {
        let points = circle(&[0.0, 12.0, 20.0, 31.0, 45.0, 60.0, 200.0]);
        let labels = [1, 1, 2, 1, 1, 2, 3];
        assert!(close(map_at_r(&points, 2, &labels), 5.0 / 18.0));
        assert!(close(precision_at_1(&points, 2, &labels), 1.0 / 3.0));
    }

    #[test]
    fn musgrave_style_single_query() {
        // R = 3, ranked relevance 1,0,1,1,...: only the top 3 count,
        // (1/3)(1/1 + 0 + 2/3) = 5/9 = 0.5556.
        let rel = [true, false, true, true, false];
        assert!(close(average_precision_at_r(&rel[..3], 3), 5.0 / 9.0));
        assert!((average_precision_at_r(&rel[..3], 3) - 0.5556).abs() < 1e-4);
        // All R relevant on top is 1; none is 0.
        assert_eq!(average_precision_at_r(&[true, true], 2), 1.0);
        assert_eq!(average_precision_at_r(&[false, false], 2), 0.0);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        // Samples 1 and 2 are the same point, 90° from sample 0.
        // Query 0 (A): 1 and 2 tie at cosine 0; index 1 (B) ranks first -> miss.
        // Query 1 (B): R=0, left out. Query 2 (A): nearest is 1 (cosine 1, B) -> miss.
        let points = [1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0];
        let labels = [0, 1, 0];
        assert_eq!(precision_at_1(&points, 2, &labels), 0.0);
        // MAP@R with R=1 is P@1 here.
        assert_eq!(map_at_r(&points, 2, &labels), 0.0);
    }

    #[test]
    fn no_query_with_a_neighbour_is_nan() {
        let points = [1.0f32, 0.0, 0.0, 1.0];
        assert!(precision_at_1(&points, 2, &[0, 1]).is_nan());
        assert!(map_at_r(&points, 2, &[0, 1]).is_nan());
    }
}
