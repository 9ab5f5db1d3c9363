//! The one place that calls the `gemm` crate, whose entry point takes raw pointers: every
//! matrix is checked to lie inside its slice before the call.

#![allow(unsafe_code)]

/// A read-only strided `rows x cols` matrix inside a slice: element `(r, c)` is at
/// `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Mat<'_> {
    /// Row-major and dense.
    pub fn rows<'a>(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a dense row-major `rows x cols` matrix, i.e. a `cols x rows` view.
    pub fn transposed<'a>(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        Mat {
            data,
            rows: cols,
            cols: rows,
            row_stride: 1,
            col_stride: cols,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = lhs * rhs` (or `dst += lhs * rhs` with `accumulate`), `dst` dense row-major
/// `lhs.rows x rhs.cols`. Single-threaded: callers parallelise over images.
///
/// # Panics
/// If the shapes disagree or a matrix does not fit in its slice (a bug in the caller; the
/// check is what makes the raw-pointer call sound).
pub(crate) fn matmul(dst: &mut [f32], accumulate: bool, lhs: Mat<'_>, rhs: Mat<'_>) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "matmul: inner dimensions differ");
    assert!(dst.len() >= m * n, "matmul: destination too small");
    assert!(
        lhs.fits() && rhs.fits(),
        "matmul: operand outside its slice"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: `dst` holds at least m*n elements and is addressed as dense row-major m x n
    // (row stride n, column stride 1); `lhs` and `rhs` were checked above to address only
    // elements inside their slices; `dst` is a unique borrow, so it cannot alias either
    // operand; the strides fit in isize because they index existing slices. With
    // `read_dst`, gemm computes dst = 1 * dst + 1 * lhs * rhs, else dst = 1 * lhs * rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
