//! The shapes of a conv2d and what its backward pass computes, shared by both algorithms.

/// Shapes of one conv2d (groups 1, dilation 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    /// `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Zero rows above and columns left of the input.
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeom {
    /// `None` where the kernel does not fit in the padded input or a stride is zero.
    pub fn new(
        [batch, c_in, h, w]: [usize; 4],
        [c_out, kh, kw]: [usize; 3],
        stride: [usize; 2],
        [(pad_top, pad_bottom), (pad_left, pad_right)]: [(usize, usize); 2],
    ) -> Option<Self> {
        let padded_h = h + pad_top + pad_bottom;
        let padded_w = w + pad_left + pad_right;
        if stride.contains(&0) || kh == 0 || kw == 0 || padded_h < kh || padded_w < kw {
            return None;
        }
        Some(Self {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            pad_top,
            pad_left,
            out_h: (padded_h - kh) / stride[0] + 1,
            out_w: (padded_w - kw) / stride[1] + 1,
        })
    }

    /// Rows of the im2col matrix: `c_in * kh * kw`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output pixels per channel.
    pub fn p(&self) -> usize {
        self.out_h * self.out_w
    }

    pub fn in_image(&self) -> usize {
        self.c_in * self.h * self.w
    }

    pub fn out_image(&self) -> usize {
        self.c_out * self.p()
    }

    /// Output columns `[lo, hi)` that read input column `ox * stride + kj - pad_left` inside the
    /// image, for stride 1.
    pub(super) fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let lo = self.pad_left.saturating_sub(kj).min(self.out_w);
        let hi = (self.w + self.pad_left).saturating_sub(kj).min(self.out_w);
        (lo, hi.max(lo))
    }

    /// The input row read by output row `oy` for kernel row `ki`, if inside the image.
    pub(super) fn in_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride[0] + ki)
            .checked_sub(self.pad_top)
            .filter(|&iy| iy < self.h)
    }

    /// The input column read by output column `ox` for kernel column `kj`, if inside.
    pub(super) fn in_col(&self, ox: usize, kj: usize) -> Option<usize> {
        (ox * self.stride[1] + kj)
            .checked_sub(self.pad_left)
            .filter(|&ix| ix < self.w)
    }
}

/// What [`super::conv_backward`] computes; `None` where not asked for.
pub struct ConvGrads {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}
