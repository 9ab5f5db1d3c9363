//! Principal axes of embeddings with more than three dimensions, so they can
//! be shown on the sphere.
//!
//! The second-moment matrix is taken about the origin, not the mean: the
//! pictures are about directions, and a linear map through the origin keeps
//! rays as rays and antipodes as antipodes. Rows are normalised first so long
//! vectors do not dominate.

/// Projection onto the top principal axes (unit vectors, strongest first).
#[derive(Debug, Clone)]
pub(crate) struct Pca {
    pub dim: usize,
    pub axes: Vec<Vec<f64>>,
}

/// Up to this size the full matrix is diagonalised directly.
const JACOBI_MAX_DIM: usize = 40;

impl Pca {
    /// Fits `k` axes (k <= dim) to the directions of the rows of `points` (`dim` columns).
    pub(crate) fn fit(points: &[f32], dim: usize, k: usize) -> Self {
        let k = k.min(dim);
        let mut cov = vec![0f64; dim * dim];
        let mut unit = vec![0f64; dim];
        let mut count = 0usize;
        for row in points.chunks_exact(dim) {
            let n = row.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
            if !(n.is_finite() && n > 1e-12) {
                continue;
            }
            unit.iter_mut()
                .zip(row)
                .for_each(|(u, &v)| *u = v as f64 / n);
            for i in 0..dim {
                let ui = unit[i];
                let line = &mut cov[i * dim + i..(i + 1) * dim];
                line.iter_mut()
                    .zip(&unit[i..])
                    .for_each(|(c, &uj)| *c += ui * uj);
            }
            count += 1;
        }
        if count == 0 {
            return Self {
                dim,
                axes: (0..k).map(|i| basis(dim, i)).collect(),
            };
        }
        for i in 0..dim {
            for j in 0..i {
                cov[i * dim + j] = cov[j * dim + i];
            }
        }
        cov.iter_mut().for_each(|c| *c /= count as f64);

        let mut axes = if dim <= JACOBI_MAX_DIM {
            let (vals, vecs) = jacobi(&mut cov, dim);
            sorted_columns(&vals, &vecs, dim, k)
        } else {
            subspace_iteration(&cov, dim, k)
        };
        // A fixed sign per axis: refits of similar data give the same picture, not a mirror.
        for a in &mut axes {
            let big = a
                .iter()
                .copied()
                .fold(0f64, |m, v| if v.abs() > m.abs() { v } else { m });
            if big < 0.0 {
                a.iter_mut().for_each(|v| *v = -*v);
            }
        }
        Self { dim, axes }
    }

    /// Coordinates of `row` (`dim` values) along the axes.
    pub(crate) fn project(&self, row: &[f32], out: &mut [f32]) {
        for (o, a) in out.iter_mut().zip(&self.axes) {
            *o = a.iter().zip(row).map(|(&w, &v)| w * v as f64).sum::<f64>() as f32;
        }
    }
}

fn basis(dim: usize, i: usize) -> Vec<f64> {
    let mut v = vec![0.0; dim];
    v[i % dim] = 1.0;
    v
}

/// Columns of `vecs` (n x n, column j = eigenvector j) for the `k` largest `vals`.
fn sorted_columns(vals: &[f64], vecs: &[f64], n: usize, k: usize) -> Vec<Vec<f64>> {
    let mut order: Vec<usize> = (0..vals.len()).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    order
        .iter()
        .take(k)
        .map(|&j| (0..n).map(|i| vecs[i * n + j]).collect())
        .collect()
}

/// Cyclic Jacobi eigen-decomposition of the symmetric n x n matrix `a`
/// (destroyed). Returns eigenvalues and eigenvectors as columns.
pub(crate) fn jacobi(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (p + 1..n).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q].powi(2))
            .sum();
        if off <= scale * 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (kp, kq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * kp - s * kq;
                    a[k * n + q] = s * kp + c * kq;
                }
                for k in 0..n {
                    let (pk, qk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * pk - s * qk;
                    a[q * n + k] = s * pk + c * qk;
                }
                for k in 0..n {
                    let (kp, kq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * kp - s * kq;
                    v[k * n + q] = s * kp + c * kq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Top-`k` eigenvectors of a large symmetric matrix: orthogonal iteration on
/// a few extra vectors (they speed up convergence of the wanted ones), then
/// Rayleigh-Ritz to order and separate them.
fn subspace_iteration(c: &[f64], n: usize, k: usize) -> Vec<Vec<f64>> {
    let m = (k + 6).min(n);
    // Deterministic start with a component along every coordinate.
    let mut q: Vec<Vec<f64>> = (0..m)
        .map(|j| (0..n).map(|i| if i == j { 1.0 } else { 0.0 } + 0.01 * (((i * 31 + j * 17) % 13) as f64 - 6.0)).collect())
        .collect();
    orthonormalise(&mut q);
    let mut last: Vec<f64> = Vec::new();
    for iter in 0..500 {
        q = q.iter().map(|v| mat_vec(c, n, v)).collect();
        orthonormalise(&mut q);
        if iter % 10 == 9 {
            let (vals, _) = ritz(c, n, &q);
            let mut top = vals.clone();
            top.sort_by(|a, b| b.total_cmp(a));
            top.truncate(k);
            let done = last.len() == top.len()
                && top
                    .iter()
                    .zip(&last)
                    .all(|(a, b)| (a - b).abs() <= 1e-12 * a.abs().max(1e-300));
            last = top;
            if done {
                break;
            }
        }
    }
    let (vals, w) = ritz(c, n, &q);
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    order
        .iter()
        .take(k)
        .map(|&j| {
            let mut v = vec![0f64; n];
            for (l, ql) in q.iter().enumerate() {
                v.iter_mut()
                    .zip(ql)
                    .for_each(|(o, &x)| *o += w[l * m + j] * x);
            }
            v
        })
        .collect()
}

/// Eigen-decomposition of Qᵀ C Q.
fn ritz(c: &[f64], n: usize, q: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let m = q.len();
    let cq: Vec<Vec<f64>> = q.iter().map(|v| mat_vec(c, n, v)).collect();
    let mut t = vec![0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            t[i * m + j] = dot(&q[i], &cq[j]);
        }
    }
    jacobi(&mut t, m)
}

fn mat_vec(c: &[f64], n: usize, v: &[f64]) -> Vec<f64> {
    c.chunks_exact(n).map(|row| dot(row, v)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Modified Gram-Schmidt, twice; a column that collapses (rank-deficient
/// matrix) is replaced by a basis vector orthogonal to the others.
fn orthonormalise(q: &mut [Vec<f64>]) {
    let n = q.first().map_or(0, Vec::len);
    for j in 0..q.len() {
        let mut candidate = 0;
        loop {
            for _ in 0..2 {
                for i in 0..j {
                    let p = dot(&q[i], &q[j]);
                    let (head, tail) = q.split_at_mut(j);
                    tail[0]
                        .iter_mut()
                        .zip(&head[i])
                        .for_each(|(x, &y)| *x -= p * y);
                }
            }
            let norm = dot(&q[j], &q[j]).sqrt();
            if norm > 1e-10 || candidate >= n {
                q[j].iter_mut()
                    .for_each(|x| *x /= norm.max(f64::MIN_POSITIVE));
                break;
            }
            q[j] = basis(n, candidate);
            candidate += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64* with Box-Muller: deterministic test data without a rand dependency.
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform().max(1e-300), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    fn normalised(v: &[f64]) -> Vec<f64> {
        let n = dot(v, v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn first_axis_follows_the_spread_direction_in_5d() {
        let u = normalised(&[1.0, 2.0, -1.0, 0.5, 3.0]);
        let mut rng = Rng(42);
        let mut points = Vec::new();
        for i in 0..500 {
            // Both signs, never near zero, plus a little isotropic noise.
            let t = if i % 2 == 0 { 1.0 } else { -1.0 } * (0.5 + rng.uniform());
            points.extend(u.iter().map(|&c| (t * c + 0.02 * rng.normal()) as f32));
        }
        let pca = Pca::fit(&points, 5, 3);
        assert_eq!(pca.axes.len(), 3);
        let along = dot(&pca.axes[0], &u).abs();
        assert!(
            along > 0.999,
            "first axis {:?} vs {u:?}: |cos| = {along}",
            pca.axes[0]
        );
        let mut out = [0f32; 3];
        pca.project(&points[..5], &mut out);
        assert!(
            out[0].abs() > 10.0 * out[1].abs().max(out[2].abs()),
            "{out:?}"
        );
    }

    /// 48-D takes the iterative path: the three strongest axes of a rotated
    /// anisotropic Gaussian come back in order.
    #[test]
    fn top_three_axes_of_a_rotated_gaussian_in_48d() {
        let d = 48;
        let mut rng = Rng(7);
        let mut basis_vecs: Vec<Vec<f64>> = (0..d)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        orthonormalise(&mut basis_vecs);
        let stds: Vec<f64> = (0..d)
            .map(|i| [6.0, 3.0, 1.8].get(i).copied().unwrap_or(0.6))
            .collect();
        let mut points = Vec::new();
        for _ in 0..4000 {
            let mut x = vec![0f64; d];
            for (b, s) in basis_vecs.iter().zip(&stds) {
                let z = s * rng.normal();
                x.iter_mut().zip(b).for_each(|(o, &c)| *o += z * c);
            }
            points.extend(x.iter().map(|&v| v as f32));
        }
        for (label, pca) in [
            ("iterative", Pca::fit(&points, d, 3)),
            ("jacobi", jacobi_fit(&points, d)),
        ] {
            for (j, axis) in pca.axes.iter().enumerate() {
                assert!((dot(axis, axis) - 1.0).abs() < 1e-9);
                let c = dot(axis, &basis_vecs[j]).abs();
                assert!(c > 0.98, "{label}: axis {j} |cos| = {c}");
            }
        }
    }

    /// The same fit forced through the full Jacobi path, to cross-check.
    fn jacobi_fit(points: &[f32], d: usize) -> Pca {
        let mut cov = vec![0f64; d * d];
        for row in points.chunks_exact(d) {
            let u = normalised(&row.iter().map(|&v| v as f64).collect::<Vec<_>>());
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += u[i] * u[j];
                }
            }
        }
        let (vals, vecs) = jacobi(&mut cov, d);
        Pca {
            dim: d,
            axes: sorted_columns(&vals, &vecs, d, 3),
        }
    }

    #[test]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let a0 = [4.0, 1.0, -2.0, 1.0, 3.0, 0.5, -2.0, 0.5, 1.0];
        let mut a = a0;
        let (vals, v) = jacobi(&mut a, 3);
        for j in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|k| a0[i * 3 + k] * v[k * 3 + j]).sum();
                assert!((av - vals[j] * v[i * 3 + j]).abs() < 1e-10);
            }
        }
        // Trace is preserved.
        assert!((vals.iter().sum::<f64>() - 8.0).abs() < 1e-10);
    }

    #[test]
    fn degenerate_inputs_still_give_orthonormal_axes() {
        // Every point on one axis: the other two eigenvalues are zero.
        let points: Vec<f32> = (0..50)
            .flat_map(|i| [0.0, (i as f32) - 25.0, 0.0, 0.0, 0.0])
            .collect();
        for d in [5usize] {
            let pca = Pca::fit(&points, d, 3);
            assert!(
                (pca.axes[0][1].abs() - 1.0).abs() < 1e-9,
                "{:?}",
                pca.axes[0]
            );
            for i in 0..3 {
                for j in 0..3 {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot(&pca.axes[i], &pca.axes[j]) - want).abs() < 1e-9);
                }
            }
        }
        let wide: Vec<f32> = (0..20)
            .flat_map(|i| (0..64).map(move |j| if j == 3 { i as f32 + 1.0 } else { 0.0 }))
            .collect();
        let pca = Pca::fit(&wide, 64, 3);
        assert!((pca.axes[0][3] - 1.0).abs() < 1e-9);
        assert!((dot(&pca.axes[1], &pca.axes[2])).abs() < 1e-9);
        assert!(Pca::fit(&[], 8, 3).axes.len() == 3);
    }
}
