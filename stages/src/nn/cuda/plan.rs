//! What the CUDA kernels decide on the host, apart from any GPU (so it is tested on the CPU):
//! launch sizes, the fixed split of each per-channel sum, the key a convolution's cuDNN
//! descriptors and algorithm are cached under, and which cuDNN algorithm a convolution takes.
//!
//! Every choice here depends on shapes and the precision alone (never on the GPU's size or
//! load), so that the order of every sum, and so every result, is the same on each run.

use crate::nn::options::Precision;

/// The kernels' source (`kernels.cu`), compiled at run time for the device (`kernels.rs`).
pub(crate) const SOURCE: &str = include_str!("kernels.cu");

/// Threads per block of every kernel (`THREADS` in `kernels.cu`, which its block sums assume).
pub(crate) const THREADS: u32 = 256;

/// At most this many blocks share one channel's sum.
const MAX_PARTS: usize = 64;

/// The fewest values a block of a per-channel sum takes (16 per thread).
const MIN_CHUNK: usize = 16 * THREADS as usize;

/// The split of a per-channel sum over `m` values: `parts` blocks of `chunk` consecutive values
/// each (the last one short), whose sums are then added in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) parts: u32,
    pub(crate) chunk: usize,
}

impl Split {
    pub(crate) fn of(m: usize) -> Split {
        let chunk = m.div_ceil(MAX_PARTS).max(MIN_CHUNK);
        Split { parts: m.div_ceil(chunk).max(1) as u32, chunk }
    }
}

/// Blocks of [`THREADS`] for one thread per value of `len`, or an error for no value (a launch
/// of no block is CUDA's error, and says less) or past the grid's limit.
pub(crate) fn blocks(len: usize) -> Result<u32, String> {
    if len == 0 {
        return Err("an empty tensor: the CUDA kernels take at least one value".into());
    }
    let blocks = len.div_ceil(THREADS as usize);
    u32::try_from(blocks)
        .ok()
        .filter(|&b| b < i32::MAX as u32)
        .ok_or_else(|| format!("{len} values: more than a CUDA grid's 2³¹ − 1 blocks"))
}

/// Which product of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pass {
    Forward,
    /// ∂x from ∂y and w (cuDNN's backward data).
    InputGrad,
    /// ∂w from x and ∂y (cuDNN's backward filter).
    WeightGrad,
}

/// What a convolution's descriptors, algorithm and workspace size are cached under: all that
/// they depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ConvKey {
    /// (N, C, H, W) of x, (K, KH, KW) of w, stride, padding.
    pub(crate) input: [usize; 4],
    pub(crate) kernel: [usize; 3],
    pub(crate) stride: usize,
    pub(crate) padding: usize,
    pub(crate) pass: Pass,
    pub(crate) precision: Precision,
}

impl ConvKey {
    /// (N, K, OH, OW): y's and ∂y's dimensions.
    pub(crate) fn output(&self) -> [usize; 4] {
        let [n, _, h, w] = self.input;
        let [k, kh, kw] = self.kernel;
        let side = |size: usize, k: usize| (size + 2 * self.padding - k) / self.stride + 1;
        [n, k, side(h, kh), side(w, kw)]
    }

    /// (K, C, KH, KW): w's and ∂w's dimensions.
    pub(crate) fn filter(&self) -> [usize; 4] {
        let [k, kh, kw] = self.kernel;
        [k, self.input[1], kh, kw]
    }
}

/// The most workspace one convolution may take. Fixed, not the GPU's free memory, so that the
/// algorithm (and with it the order of the sums) is the same on every run.
pub(crate) const WORKSPACE_LIMIT: usize = 512 << 20;

/// The math an algorithm of cuDNN's list runs in (its `mathType`), or a convolution
/// descriptor allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlgoMath {
    Default,
    Fma,
    TensorOp,
    /// Tensor cores with float operands converted to a narrower type.
    TensorOpConversion,
}

impl AlgoMath {
    /// The math a convolution descriptor allows in `precision`: float multiply-adds only for
    /// fp32 (cuDNN's default math would take TF32 tensor-core kernels for float data); tensor
    /// cores for tf32 (on TF32 operands) and bf16 (on the bfloat16 data itself).
    pub(crate) fn allowed(precision: Precision) -> AlgoMath {
        match precision {
            Precision::Fp32 => AlgoMath::Fma,
            Precision::Tf32 | Precision::Bf16 => AlgoMath::TensorOp,
        }
    }

    /// Whether an algorithm cuDNN ranks in this math computes in `precision` under a
    /// descriptor that allows [`AlgoMath::allowed`]: never one that converts operands to a
    /// narrower type than the precision's, and for fp32 never tensor cores. (A product of two
    /// bfloat16 values is exact in float, so in bf16 an FMA algorithm computes what a tensor-op
    /// one does, in another order.)
    fn computes(self, precision: Precision) -> bool {
        match self {
            AlgoMath::Default | AlgoMath::Fma => true,
            AlgoMath::TensorOp => precision != Precision::Fp32,
            AlgoMath::TensorOpConversion => false,
        }
    }
}

/// One entry of cuDNN's ranked list of algorithms for a convolution
/// (`cudnnGetConvolution*Algorithm_v7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// cuDNN's number for the algorithm.
    pub(crate) algo: u32,
    /// It can run this convolution (`status` success).
    pub(crate) supported: bool,
    /// It gives the same bytes on every run (`determinism`).
    pub(crate) deterministic: bool,
    pub(crate) math: AlgoMath,
    /// Workspace, bytes.
    pub(crate) memory: usize,
}

/// The first algorithm of cuDNN's ranking that runs the convolution deterministically in
/// `precision` within [`WORKSPACE_LIMIT`]; or why there is none.
pub(crate) fn choose(ranked: &[Candidate], precision: Precision) -> Result<Candidate, String> {
    ranked
        .iter()
        .find(|c| {
            c.supported
                && c.deterministic
                && c.math.computes(precision)
                && c.memory <= WORKSPACE_LIMIT
        })
        .copied()
        .ok_or_else(|| {
            format!(
                "cuDNN offers no deterministic {precision} algorithm within {} MiB of workspace \
                 among {} ({ranked:?})",
                WORKSPACE_LIMIT >> 20,
                ranked.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_covers_the_channel_once_in_at_most_64_parts_from_its_size_alone() {
        for m in [1, 2, 49, 4095, 4096, 4097, 6272, 100_352, 1_605_632, 1 << 26] {
            let s = Split::of(m);
            let parts = s.parts as usize;
            assert!((1..=MAX_PARTS).contains(&parts), "{m}: {s:?}");
            assert!(parts * s.chunk >= m && (parts - 1) * s.chunk < m, "{m}: {s:?}");
            assert!(s.chunk >= MIN_CHUNK, "{m}: {s:?}");
            assert_eq!(Split::of(m), s);
        }
        // The deep layers' small planes at batch 128 (6,272 values): two blocks of at least
        // 4,096; at batch 16, one; the stem's: 64.
        assert_eq!(Split::of(128 * 7 * 7).parts, 2);
        assert_eq!(Split::of(16 * 7 * 7).parts, 1);
        assert_eq!(Split::of(128 * 112 * 112).parts, 64);
    }

    #[test]
    fn blocks_cover_every_value_and_refuse_past_the_grid() {
        assert_eq!(blocks(1), Ok(1));
        assert_eq!(blocks(256), Ok(1));
        assert_eq!(blocks(257), Ok(2));
        assert_eq!(blocks(128 * 64 * 112 * 112), Ok(401_408));
        assert!(blocks(usize::MAX / 2).unwrap_err().contains("2³¹"));
        assert!(blocks(0).unwrap_err().contains("an empty tensor"));
    }

    fn key(x: [usize; 4], w: [usize; 4], stride: usize, padding: usize, pass: Pass) -> ConvKey {
        let precision = Precision::Fp32;
        ConvKey { input: x, kernel: [w[0], w[2], w[3]], stride, padding, pass, precision }
    }

    #[test]
    fn a_convolution_key_holds_all_its_descriptors_depend_on() {
        // ResNet-50's stem and a strided 3×3 of layer2 at batch 128.
        let stem = key([128, 3, 224, 224], [64, 3, 7, 7], 2, 3, Pass::Forward);
        assert_eq!(stem.output(), [128, 64, 112, 112]);
        assert_eq!(stem.filter(), [64, 3, 7, 7]);
        let down = key([128, 128, 56, 56], [128, 128, 3, 3], 2, 1, Pass::Forward);
        assert_eq!(down.output(), [128, 128, 28, 28]);
        let mut keys = std::collections::HashSet::new();
        for pass in [Pass::Forward, Pass::InputGrad, Pass::WeightGrad] {
            assert!(keys.insert(key([128, 3, 224, 224], [64, 3, 7, 7], 2, 3, pass)));
        }
        // Each field moves the key: batch, stride, padding, output channels.
        assert!(keys.insert(key([64, 3, 224, 224], [64, 3, 7, 7], 2, 3, Pass::Forward)));
        assert!(keys.insert(key([128, 3, 224, 224], [64, 3, 7, 7], 1, 3, Pass::Forward)));
        assert!(keys.insert(key([128, 3, 224, 224], [64, 3, 7, 7], 2, 2, Pass::Forward)));
        assert!(keys.insert(key([128, 3, 224, 224], [32, 3, 7, 7], 2, 3, Pass::Forward)));
        assert!(keys.insert(ConvKey { precision: Precision::Tf32, ..stem }));
        assert!(keys.insert(ConvKey { precision: Precision::Bf16, ..stem }));
        assert!(!keys.insert(stem));
    }

    fn candidate(algo: u32, deterministic: bool, math: AlgoMath, memory: usize) -> Candidate {
        Candidate { algo, supported: true, deterministic, math, memory }
    }

    #[test]
    fn the_choice_is_the_best_ranked_deterministic_algorithm_in_the_precision_within_the_workspace()
    {
        let ranked = [
            candidate(0, false, AlgoMath::Default, 0),
            candidate(1, true, AlgoMath::TensorOp, 1 << 20),
            candidate(2, true, AlgoMath::Fma, WORKSPACE_LIMIT + 1),
            Candidate { supported: false, ..candidate(3, true, AlgoMath::Fma, 0) },
            candidate(4, true, AlgoMath::TensorOpConversion, 0),
            candidate(5, true, AlgoMath::Fma, WORKSPACE_LIMIT),
            candidate(6, true, AlgoMath::Default, 0),
        ];
        assert_eq!(choose(&ranked, Precision::Fp32).unwrap().algo, 5);
        let none = choose(&ranked[..4], Precision::Fp32).unwrap_err();
        assert!(
            none.contains("no deterministic fp32 algorithm") && none.contains("512 MiB"),
            "{none}"
        );
        assert!(choose(&[], Precision::Fp32).is_err());
        // TF32 takes the tensor-op algorithm ranked first, never one converting operands further.
        assert_eq!(choose(&ranked, Precision::Tf32).unwrap().algo, 1);
        assert_eq!(choose(&ranked[4..], Precision::Tf32).unwrap().algo, 5);
        let none = choose(&ranked[4..5], Precision::Tf32).unwrap_err();
        assert!(none.contains("no deterministic tf32 algorithm"), "{none}");
        // bf16 the same: tensor cores on its own data, never a conversion further.
        assert_eq!(choose(&ranked, Precision::Bf16).unwrap().algo, 1);
        assert!(choose(&ranked[4..5], Precision::Bf16).is_err());
    }

    #[test]
    fn fp32_descriptors_allow_float_multiply_adds_only_and_tf32_and_bf16_ones_tensor_cores() {
        assert_eq!(AlgoMath::allowed(Precision::Fp32), AlgoMath::Fma);
        assert_eq!(AlgoMath::allowed(Precision::Tf32), AlgoMath::TensorOp);
        assert_eq!(AlgoMath::allowed(Precision::Bf16), AlgoMath::TensorOp);
        for p in [Precision::Fp32, Precision::Tf32, Precision::Bf16] {
            assert!(AlgoMath::allowed(p).computes(p));
        }
    }

    #[test]
    fn the_source_blocks_match_the_launches() {
        assert!(SOURCE.contains(&format!("#define THREADS {THREADS}\n")));
        for name in super::super::KERNELS {
            assert!(SOURCE.contains(&format!("__global__ void {name}(")), "{name}");
        }
        assert_eq!(SOURCE.matches("__global__ void ").count(), super::super::KERNELS.len());
    }
}
