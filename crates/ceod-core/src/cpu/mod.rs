//! The fast CPU path of [`CeodNet`](crate::CeodNet): convolutions as candle custom ops.
//!
//! candle 0.11.1 runs a convolution's backward pass as a `conv_transpose2d` (input gradient) and
//! a dilated `conv2d` (kernel gradient), which dominate a training step on the CPU. Here the
//! forward pass and both gradients are `im2col`/`col2im` around a `gemm` (the same `gemm` crate
//! candle uses), with the bias, ReLU and max pool fused into the same pass and the batch split
//! over candle's own CPU threads. Layers with few inputs per output (the first, on grey images)
//! use a direct loop convolution instead of the gemm. The results equal candle's ops to rounding
//! (tests: `tests/cpu_conv*.rs`).
//!
//! On other devices [`conv2d`] falls back to candle's own kernels, so one code path serves all.

mod alloc;
mod conv;
mod direct;
mod gemm;
mod im2col;

pub use alloc::tune_allocator;
pub use conv::{ConvOptions, conv2d};
pub(crate) use conv::{run_tasks, threads};
