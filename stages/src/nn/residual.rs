//! A bottleneck block's output, ReLU(main path + shortcut), as one CPU kernel forward and one
//! backward; on other devices candle's `add` and `relu`.
//!
//! The gradient passes where the output is positive, as PyTorch's `threshold_backward` (candle's
//! own `relu` also passes it where the input is exactly 0, which zero-initialised residual
//! branches make common at the start of pre-training).

use candle_core::{Shape, Tensor};

use std::mem::MaybeUninit;

use super::cpu::{custom_op, kernels_for, par_uninit, CpuKernel, CpuOp, Elem};

const OP: &str = "residual";
/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// ReLU(a + b) for `a` and `b` of one shape.
pub(super) fn add_relu(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if !kernels_for(a) {
        return (a + b)?.relu();
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, AddRelu)
}

/// The shape of two operands that must share it; `what` they are, in the error.
fn one_shape(dims: &[&[usize]], what: &str) -> candle_core::Result<Shape> {
    if dims[0] != dims[1] {
        candle_core::bail!("{OP}: {what} {:?} and {:?} differ", dims[0], dims[1]);
    }
    Ok(Shape::from(dims[0]))
}

struct AddRelu;

impl CpuKernel for AddRelu {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let &[a, b] = operands else { unreachable!() };
        let fill = |i: usize, out: &mut [MaybeUninit<T>]| {
            let (a, b) = (&a[i * CHUNK..], &b[i * CHUNK..]);
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                let s = a + b;
                o.write(if s > T::default() { s } else { T::default() });
            }
        };
        // SAFETY: chunk i of the output is written from chunk i of a and b, as long as it.
        unsafe { par_uninit(a.len(), CHUNK, fill) }
    }
}

impl CpuOp for AddRelu {
    const NAME: &'static str = "pipeline-add-relu";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        Ok((self, one_shape(dims, "shapes")?))
    }
}

custom_op!(CustomOp2 for AddRelu {
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let masked = grad.contiguous()?.apply_op2_no_bwd(y, &Mask)?;
        Ok((a.track_op().then(|| masked.clone()), b.track_op().then_some(masked)))
    }
});

/// The gradient where the output is positive, else 0: operands (g, y).
struct Mask;

impl CpuKernel for Mask {
    fn run<T: Elem>(&self, operands: &[&[T]]) -> Vec<T> {
        let &[g, y] = operands else { unreachable!() };
        let fill = |i: usize, out: &mut [MaybeUninit<T>]| {
            for ((o, &g), &y) in out.iter_mut().zip(&g[i * CHUNK..]).zip(&y[i * CHUNK..]) {
                // A select, not a branch: half the values are 0, a branch would mispredict.
                o.write(if y > T::default() { g } else { T::default() });
            }
        };
        // SAFETY: chunk i of the output is written from chunk i of g and y, as long as it.
        unsafe { par_uninit(g.len(), CHUNK, fill) }
    }
}

impl CpuOp for Mask {
    const NAME: &'static str = "pipeline-relu-mask";
    fn at(&self, dims: &[&[usize]]) -> candle_core::Result<(impl CpuKernel, Shape)> {
        Ok((self, one_shape(dims, "gradient and output shapes")?))
    }
}
custom_op!(CustomOp2 for Mask {});

/// The CUDA implementations: one element-wise kernel each ([`super::cuda::kernels`]).
#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::CudaDevice;
    use cudarc::driver::{CudaSlice, CudaView};

    use super::super::cuda::{kernels, CudaOp};
    use super::{AddRelu, Mask};

    type Out = candle_core::Result<CudaSlice<f32>>;

    impl CudaOp for AddRelu {
        fn cuda(&self, _: &[&[usize]], ops: &[CudaView<'_, f32>], device: &CudaDevice) -> Out {
            kernels::elementwise(device, "add_relu", &ops[0], &ops[1])
        }
    }

    impl CudaOp for Mask {
        fn cuda(&self, _: &[&[usize]], ops: &[CudaView<'_, f32>], device: &CudaDevice) -> Out {
            kernels::elementwise(device, "relu_mask", &ops[0], &ops[1])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn flat(t: &Tensor) -> Vec<f64> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// Forward against the formula; both gradients are the output gradient where a + b > 0,
    /// including 0 where a + b is exactly 0 (PyTorch's `threshold_backward`).
    #[test]
    fn add_relu_and_its_gradient_follow_pytorch() {
        let a = [1.5, -2.0, 0.0, 0.25, -0.5, 3.0];
        let b = [-0.5, 1.0, 0.0, -0.25, 1.0, 2.0];
        let t = |v: &[f64]| {
            Var::from_tensor(&Tensor::new(v, &Device::Cpu).unwrap().reshape((1, 2, 3, 1)).unwrap())
                .unwrap()
        };
        let (av, bv) = (t(&a), t(&b));
        let y = add_relu(av.as_tensor(), bv.as_tensor()).unwrap();
        let expected: Vec<f64> = a.iter().zip(&b).map(|(a, b)| (a + b).max(0.0)).collect();
        assert_eq!(flat(&y), expected);
        let r = Tensor::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 3, 1))
            .unwrap();
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let g: Vec<f64> =
            expected.iter().zip(flat(&r)).map(|(y, r)| if *y > 0.0 { r } else { 0.0 }).collect();
        assert_eq!(flat(grads.get(av.as_tensor()).unwrap()), g);
        assert_eq!(flat(grads.get(bv.as_tensor()).unwrap()), g);
        let f32s = add_relu(
            &av.as_tensor().to_dtype(DType::F32).unwrap(),
            &bv.as_tensor().to_dtype(DType::F32).unwrap(),
        )
        .unwrap();
        assert_eq!(flat(&f32s.to_dtype(DType::F64).unwrap()), expected);
    }

    #[test]
    fn shapes_must_agree() {
        let a = Tensor::zeros((1, 2, 2, 2), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros((1, 2, 2, 1), DType::F32, &Device::Cpu).unwrap();
        assert!(add_relu(&a, &b).unwrap_err().to_string().contains("differ"));
    }
}
