//! Which of the own kernels run: one switch each, set by the program that uses them.

/// Which of the own CPU kernels (f32 on burn's flex backend) a model uses; every switch off
/// sends that operation through burn's own ops (or, for the direct conv, through im2col +
/// gemm). [`Default`] is everything on, the fastest setting measured.
///
/// The `arcface-lab` binary builds these once from its `ARCFACE_*` environment variables
/// (named at each field); the library reads no environment. The switches exist to compare
/// the paths (a benchmark, a test against burn's ops) and to step around a kernel suspected
/// of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOptions {
    /// Conv2d as the direct kernels or im2col + gemm instead of burn's conv (`ARCFACE_FASTCONV`).
    pub conv: bool,
    /// 3x3 convs with stride 1 and padding 1 as direct convolutions in AVX2 + FMA where the
    /// CPU has them, rather than im2col + gemm (`ARCFACE_DIRECTCONV`; needs `conv`).
    pub direct_conv: bool,
    /// The direct conv's forward kernel in AVX-512 where the CPU has it, rather than AVX2;
    /// the results are the same to the bit (`ARCFACE_AVX512`; needs `direct_conv`). Not to be
    /// confused with the cargo feature `gemm-avx512`, which builds gemm's AVX-512 kernels.
    pub direct_conv_avx512: bool,
    /// The direct 3x3 convs' forward and input gradient by Winograd's F(2x2, 3x3) (2.25x
    /// fewer multiplications, AVX2 + FMA) rather than the direct kernel; the rounding differs
    /// by a few units in the last place (`ARCFACE_WINOGRAD`; needs `direct_conv`).
    pub winograd: bool,
    /// Batch norm fused with the ReLU that follows it, in training and with the running
    /// statistics (`ARCFACE_FASTBN`).
    pub batch_norm: bool,
    /// The VGG blocks' 2x2 max-pool with stride 2 (`ARCFACE_FASTPOOL`).
    pub max_pool: bool,
    /// Dropout's keep mask from [`crate::dropout_mask`], seeded by one draw from the device's
    /// random stream, rather than burn's Bernoulli draw per value (`ARCFACE_FASTDROPOUT`).
    pub dropout: bool,
}

impl Default for KernelOptions {
    fn default() -> Self {
        Self::all(true)
    }
}

impl KernelOptions {
    /// Every kernel on, or every kernel off (burn's ops throughout).
    pub const fn all(on: bool) -> Self {
        Self {
            conv: on,
            direct_conv: on,
            direct_conv_avx512: on,
            winograd: on,
            batch_norm: on,
            max_pool: on,
            dropout: on,
        }
    }
}
