// The project's CUDA kernels: BatchNorm (+ReLU) forward and backward, a bottleneck block's
// add + ReLU and its gradient mask, on contiguous NCHW float tensors; and the conversions
// between float and bfloat16 around the convolutions of precision bf16. Compiled at run time by
// NVRTC for the device's own architecture (nn/cuda/kernels.rs).
//
// They compute what the CPU kernels compute (nn/batchnorm.rs, nn/residual.rs), in the same
// order of float operations: element-wise arithmetic goes through __fadd_rn/__fmul_rn, which
// the compiler never contracts into a fused multiply-add, so an element-wise result has the CPU
// kernel's bits. Per-channel sums accumulate in double, as on the CPU; their order is fixed by
// the launch (no atomics): block `part` of a channel sums the values [part·chunk, (part+1)·chunk)
// of the channel, thread t of it every THREADS-th value from t, then the block's threads are
// added pairwise in a fixed tree, and the parts in order by one thread per channel. So a rerun
// on the same GPU gives the same bytes; the CPU sums in another order, so sums can differ from
// the CPU's in the last bits.

#define THREADS 256

extern "C" {

// The channel's value i (of n·hw) in an NCHW tensor of c channels.
__device__ __forceinline__ size_t at(size_t i, int ch, int c, int hw) {
    size_t n = i / hw;
    return (n * c + ch) * hw + (i - n * hw);
}

// The block's THREADS pairs (s[t], q[t]) added in a fixed tree; the total ends in s[0], q[0].
__device__ void block_sum(double* s, double* q) {
    for (int half = THREADS / 2; half > 0; half /= 2) {
        __syncthreads();
        if (threadIdx.x < half) {
            s[threadIdx.x] += s[threadIdx.x + half];
            q[threadIdx.x] += q[threadIdx.x + half];
        }
    }
}

// Per channel (blockIdx.y) and part (blockIdx.x): the sums of d = x − x₀ and of d² over the
// part's values, x₀ the channel's first value (as the CPU: the shift keeps Σd²/M − (Σd/M)² from
// cancelling). partial: [C, parts, 2].
__global__ void bn_stats_partial(const float* x, double* partial, int c, int hw, size_t m,
                                 size_t chunk) {
    __shared__ double s[THREADS], q[THREADS];
    int ch = blockIdx.y, part = blockIdx.x, parts = gridDim.x;
    double shift = (double)x[at(0, ch, c, hw)];
    size_t end = min(m, (size_t)(part + 1) * chunk);
    double sum = 0.0, squares = 0.0;
    for (size_t i = (size_t)part * chunk + threadIdx.x; i < end; i += THREADS) {
        double d = (double)x[at(i, ch, c, hw)] - shift;
        sum += d;
        squares += d * d;
    }
    s[threadIdx.x] = sum;
    q[threadIdx.x] = squares;
    block_sum(s, q);
    if (threadIdx.x == 0) {
        partial[(ch * parts + part) * 2] = s[0];
        partial[(ch * parts + part) * 2 + 1] = q[0];
    }
}

// (μ, σ²) [2, C] from the partial sums, one thread per channel, parts added in order.
__global__ void bn_stats_finish(const float* x, const double* partial, float* out, int c, int hw,
                                size_t m, int parts) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double shift = (double)x[at(0, ch, c, hw)];
    double sum = 0.0, squares = 0.0;
    for (int p = 0; p < parts; p++) {
        sum += partial[(ch * parts + p) * 2];
        squares += partial[(ch * parts + p) * 2 + 1];
    }
    double mean = sum / (double)m;
    out[ch] = (float)(shift + mean);
    out[c + ch] = (float)fmax(squares / (double)m - mean * mean, 0.0);
}

// One channel's normalisation in float, from parameter rows (μ, σ², γ, β, …) [rows, C]: the
// CPU's Channel::affine, y = (x + shift)·scale + β.
struct Affine {
    float shift, scale, beta;
    double inv_std, gamma;
};

__device__ __forceinline__ Affine affine(const float* params, int c, int ch, double eps) {
    Affine a;
    double mean = (double)params[ch], var = (double)params[c + ch];
    a.gamma = (double)params[2 * c + ch];
    a.inv_std = 1.0 / sqrt(var + eps);
    a.shift = (float)(-mean);
    a.scale = (float)(a.gamma * a.inv_std);
    a.beta = (float)params[3 * c + ch];
    return a;
}

__device__ __forceinline__ float output(Affine a, float x) {
    return __fadd_rn(__fmul_rn(__fadd_rn(x, a.shift), a.scale), a.beta);
}

// y = γ·(x − μ)/√(σ² + ε) + β, then ReLU if relu; params [4, C] (μ, σ², γ, β). One thread per
// value; `len` = N·C·HW.
__global__ void bn_normalise(const float* x, const float* params, float* y, int c, int hw,
                             size_t len, double eps, int relu) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    int ch = (int)((i / hw) % c);
    float v = output(affine(params, c, ch, eps), x[i]);
    y[i] = (!relu || v > 0.0f) ? v : 0.0f;
}

// Per channel and part: (Σ g·(x − μ), Σ g), g zeroed where the fused ReLU's output is not
// positive; the products in float, the sums in double. params [4, C]; partial [C, parts, 2].
__global__ void bn_grad_partial(const float* x, const float* g, const float* params,
                                double* partial, int c, int hw, size_t m, size_t chunk,
                                double eps, int relu) {
    __shared__ double s[THREADS], q[THREADS];
    int ch = blockIdx.y, part = blockIdx.x, parts = gridDim.x;
    Affine a = affine(params, c, ch, eps);
    size_t end = min(m, (size_t)(part + 1) * chunk);
    double dgamma = 0.0, dbeta = 0.0;
    for (size_t i = (size_t)part * chunk + threadIdx.x; i < end; i += THREADS) {
        size_t k = at(i, ch, c, hw);
        float centred = __fadd_rn(x[k], a.shift);
        float d = g[k];
        if (relu && !(__fadd_rn(__fmul_rn(centred, a.scale), a.beta) > 0.0f)) d = 0.0f;
        dgamma += (double)__fmul_rn(d, centred);
        dbeta += (double)d;
    }
    s[threadIdx.x] = dgamma;
    q[threadIdx.x] = dbeta;
    block_sum(s, q);
    if (threadIdx.x == 0) {
        partial[(ch * parts + part) * 2] = s[0];
        partial[(ch * parts + part) * 2 + 1] = q[0];
    }
}

// (∂γ, ∂β) [2, C]: ∂γ = Σ g·(x − μ) / √(σ² + ε), ∂β = Σ g.
__global__ void bn_grad_finish(const float* params, const double* partial, float* out, int c,
                               int parts, double eps) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= c) return;
    double dgamma = 0.0, dbeta = 0.0;
    for (int p = 0; p < parts; p++) {
        dgamma += partial[(ch * parts + p) * 2];
        dbeta += partial[(ch * parts + p) * 2 + 1];
    }
    out[ch] = (float)(dgamma * affine(params, c, ch, eps).inv_std);
    out[c + ch] = (float)dbeta;
}

// ∂x = a·g + b·(x − μ) + d per value, g zeroed where the ReLU stopped it; params [6, C]
// (μ, σ², γ, β, ∂γ, ∂β); `m` values per channel; batch: the statistics were the batch's own.
__global__ void bn_input_grad(const float* x, const float* g, const float* params, float* dx,
                              int c, int hw, size_t len, size_t m, double eps, int batch,
                              int relu) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    int ch = (int)((i / hw) % c);
    Affine f = affine(params, c, ch, eps);
    double a = f.gamma * f.inv_std, b = 0.0, d = 0.0;
    if (batch) {
        b = -a * f.inv_std * (double)params[4 * c + ch] / (double)m;
        d = -a * (double)params[5 * c + ch] / (double)m;
    }
    float v = x[i], gv = g[i];
    if (relu && !(output(f, v) > 0.0f)) gv = 0.0f;
    float centre = (float)(-(double)params[ch]);
    dx[i] = __fadd_rn(__fadd_rn(__fmul_rn((float)a, gv), __fmul_rn((float)b, __fadd_rn(v, centre))),
                      (float)d);
}

// ReLU(a + b).
__global__ void add_relu(const float* a, const float* b, float* y, size_t len) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    float s = __fadd_rn(a[i], b[i]);
    y[i] = s > 0.0f ? s : 0.0f;
}

// The gradient where the output is positive, else 0 (PyTorch's threshold_backward).
__global__ void relu_mask(const float* g, const float* y, float* out, size_t len) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    out[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

// Float to bfloat16 (its upper 16 bits), rounded to nearest with ties to even, as the CPU's
// conversion (half::bf16::from_f32) rounds; a NaN keeps its sign and the top bits of its payload
// and is made quiet (where __float2bfloat16_rn gives the one canonical NaN), and a value past
// bfloat16's largest rounds to infinity.
__global__ void to_bf16(const float* x, unsigned short* y, size_t len) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    unsigned int u = __float_as_uint(x[i]);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        y[i] = (unsigned short)((u >> 16) | 0x40u);
    } else {
        y[i] = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

// Bfloat16 to float: exact.
__global__ void from_bf16(const unsigned short* x, float* y, size_t len) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= len) return;
    y[i] = __uint_as_float((unsigned int)x[i] << 16);
}

}
