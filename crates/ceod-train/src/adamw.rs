//! AdamW whose moments can be saved and restored, so that `--resume` continues exactly.
//!
//! candle-nn's `AdamW` keeps its moments private. This one performs the same arithmetic, in the
//! same order (a test checks it against candle-nn step by step), and exposes its state as named
//! tensors for a safetensors file.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor, Var, backprop::GradStore};

/// AdamW hyper-parameters (candle-nn's `ParamsAdamW` with weight decay default 0, as the
/// PyTorch reference's `Adam`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWParams {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

#[derive(Debug)]
struct Slot {
    name: String,
    var: Var,
    m: Var,
    v: Var,
}

/// AdamW over named variables, with a saveable state.
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    step_t: usize,
    /// The hyper-parameters; `lr` may be changed between steps by a schedule.
    pub params: AdamWParams,
}

impl AdamW {
    /// An optimiser over `vars` (name, variable); only floating-point variables are kept.
    pub fn new(vars: Vec<(String, Var)>, params: AdamWParams) -> Result<Self> {
        let mut slots = Vec::with_capacity(vars.len());
        for (name, var) in vars {
            if !var.dtype().is_float() {
                continue;
            }
            let m = Var::zeros(var.shape(), var.dtype(), var.device())?;
            let v = Var::zeros(var.shape(), var.dtype(), var.device())?;
            slots.push(Slot { name, var, m, v });
        }
        slots.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            slots,
            step_t: 0,
            params,
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step_t
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// One AdamW step from the gradients in `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = self.params;
        let lr_lambda = p.lr * p.weight_decay;
        let scale_m = 1f64 / (1f64 - p.beta1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - p.beta2.powi(self.step_t as i32));
        for s in &self.slots {
            let theta = &s.var;
            if let Some(g) = grads.get(theta) {
                let next_m = ((s.m.as_tensor() * p.beta1)? + (g * (1.0 - p.beta1))?)?;
                let next_v = ((s.v.as_tensor() * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
                let m_hat = (&next_m * scale_m)?;
                let v_hat = (&next_v * scale_v)?;
                let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
                let adjusted = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
                let next_theta = (next_theta - (adjusted * p.lr)?)?;
                s.m.set(&next_m)?;
                s.v.set(&next_v)?;
                theta.set(&next_theta)?;
            }
        }
        Ok(())
    }

    /// The moments as named tensors: `m.<name>` and `v.<name>`.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for s in &self.slots {
            out.insert(format!("m.{}", s.name), s.m.as_tensor().clone());
            out.insert(format!("v.{}", s.name), s.v.as_tensor().clone());
        }
        out
    }

    /// Restores the moments saved by [`AdamW::state_tensors`] and the step count.
    ///
    /// Every variable's two moments must be present with its shape.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, step_t: usize) -> Result<()> {
        for s in &self.slots {
            for (key, slot) in [
                (format!("m.{}", s.name), &s.m),
                (format!("v.{}", s.name), &s.v),
            ] {
                let t = tensors.get(&key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("optimiser state lacks {key}"))
                })?;
                if t.dims() != slot.dims() {
                    return Err(candle_core::Error::Msg(format!(
                        "optimiser state {key} has shape {:?}, the variable {:?}",
                        t.dims(),
                        slot.dims()
                    )));
                }
                slot.set(
                    &t.to_dtype(DType::F32)?
                        .to_dtype(slot.dtype())?
                        .to_device(slot.device())?,
                )?;
            }
        }
        self.step_t = step_t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Optimizer;

    #[test]
    fn equals_candle_nn_adamw_over_steps() {
        let dev = Device::Cpu;
        let init = Tensor::new(&[[0.5f32, -1.5, 2.0], [0.1, 0.2, -0.3]], &dev).unwrap();
        let target = Tensor::new(&[[1.0f32, 0.0, -1.0], [0.5, 0.5, 0.5]], &dev).unwrap();
        let a = Var::from_tensor(&init).unwrap();
        let b = Var::from_tensor(&init).unwrap();
        let params = AdamWParams {
            lr: 0.05,
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut ours = AdamW::new(vec![("w".into(), a.clone())], params).unwrap();
        let mut theirs = candle_nn::AdamW::new(
            vec![b.clone()],
            candle_nn::ParamsAdamW {
                lr: params.lr,
                beta1: params.beta1,
                beta2: params.beta2,
                eps: params.eps,
                weight_decay: params.weight_decay,
            },
        )
        .unwrap();
        for _ in 0..5 {
            // loss = sum((w - t)^4): a non-quadratic loss, so the moments matter
            let la = (a.as_tensor() - &target)
                .unwrap()
                .powf(4.0)
                .unwrap()
                .sum_all()
                .unwrap();
            ours.step(&la.backward().unwrap()).unwrap();
            let lb = (b.as_tensor() - &target)
                .unwrap()
                .powf(4.0)
                .unwrap()
                .sum_all()
                .unwrap();
            theirs.backward_step(&lb).unwrap();
        }
        let x: Vec<f32> = a.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = b.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(x, y);
        assert_ne!(x, init.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn saved_state_continues_identically() {
        let dev = Device::Cpu;
        let init = Tensor::new(&[1.0f32, -2.0, 3.0], &dev).unwrap();
        let loss = |w: &Var| w.as_tensor().sqr().unwrap().sum_all().unwrap();
        let a = Var::from_tensor(&init).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), a.clone())], AdamWParams::default()).unwrap();
        for _ in 0..3 {
            opt.step(&loss(&a).backward().unwrap()).unwrap();
        }
        // snapshot, then continue in a fresh optimiser restored from it
        let state: HashMap<String, Tensor> = opt
            .state_tensors()
            .into_iter()
            .map(|(k, t)| (k, t.copy().unwrap()))
            .collect();
        let b = Var::from_tensor(&a.as_tensor().copy().unwrap()).unwrap();
        let mut opt2 = AdamW::new(vec![("w".into(), b.clone())], AdamWParams::default()).unwrap();
        opt2.load_state(&state, opt.step_count()).unwrap();
        for _ in 0..3 {
            opt.step(&loss(&a).backward().unwrap()).unwrap();
            opt2.step(&loss(&b).backward().unwrap()).unwrap();
        }
        let x: Vec<f32> = a.as_tensor().to_vec1().unwrap();
        let y: Vec<f32> = b.as_tensor().to_vec1().unwrap();
        assert_eq!(x, y);
        // a missing moment is an error that names it
        let mut opt3 = AdamW::new(vec![("w".into(), b)], AdamWParams::default()).unwrap();
        let err = opt3.load_state(&HashMap::new(), 3).unwrap_err();
        assert!(err.to_string().contains("m.w"), "{err}");
    }
}
