//! The training loop: epochs of shuffled, augmented batches, validation, checkpoints, curves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use candle_core::{DType, Device};
use candle_nn::VarMap;
use ceod_core::{CeodNet, ModelCard, Provenance, load_checkpoint_trainable, save_checkpoint};

use crate::adamw::AdamW;
use crate::checkpoint_policy::BestTracker;
use crate::config::{DataSource, TrainConfig};
use crate::dataset::{
    Dataset, Item, load_dataset_for, make_batch, normalise_from_train, skip_out_of_range,
};
use crate::evaluate::{EvalMetrics, evaluate};
use crate::plot::{Series, write_curves};
use crate::progress::ProgressSink;
use crate::rng::SplitMix64;
use crate::run_dir::{RunDir, write_json_atomic, write_jsonl_atomic};
use crate::schedule::ScheduleAt;
use crate::state::{EpochRecord, LoopState, load_state, save_state};
use crate::step::{StepError, StepLoss, train_step};

/// The loss turned NaN (or infinite): the run stops, the last good checkpoint is kept.
#[derive(Debug, thiserror::Error)]
#[error(
    "the loss is {value} at epoch {epoch}, step {step} (of the epoch); the run stopped, \
     the last good checkpoint is kept in {kept}"
)]
pub struct NanLoss {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Step within the epoch, 1-based.
    pub step: usize,
    /// The loss value.
    pub value: f64,
    /// The kept checkpoint (or a note that there is none yet).
    pub kept: String,
}

/// What a finished (or stopped) run leaves.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Every epoch's record (including those of before a resume).
    pub history: Vec<EpochRecord>,
    /// The epoch of `best` (1-based).
    pub best_epoch: Option<usize>,
    /// Files that were skipped.
    pub skipped: Vec<(PathBuf, String)>,
    /// The data, for a final evaluation.
    pub dataset: Dataset,
}

fn vars_of(varmap: &VarMap) -> anyhow::Result<Vec<(String, candle_core::Var)>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("VarMap lock poisoned"))?;
    Ok(data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn dataset_name(d: &DataSource) -> String {
    match d {
        DataSource::Manifest { path } => path.display().to_string(),
        DataSource::Mvtec { root } => format!("mvtec:{}", root.display()),
        DataSource::Experiment {
            config,
            description,
        } => format!("experiment:{} {description}", config.display()),
        DataSource::Synth { n_train, seed, .. } => {
            format!("synth:conveyor n={n_train} seed={seed}")
        }
    }
}

fn card_of(cfg: &TrainConfig, epochs: usize, m: &EvalMetrics) -> ModelCard {
    let mut card = ModelCard::new(cfg.model.clone(), cfg.preprocess.clone());
    card.threshold = f64::from(cfg.decision_threshold);
    if cfg.model.num_outputs > 1 {
        card.class_names = class_names(cfg.model.num_outputs);
    }
    let mut metrics = BTreeMap::new();
    let mut put = |k: &str, v: Option<f64>| {
        if let Some(v) = v {
            metrics.insert(k.to_string(), v);
        }
    };
    put("val_accuracy", m.accuracy);
    put("val_balanced_accuracy", m.balanced_accuracy);
    put("val_auroc", m.auroc);
    put("val_f1", m.f1);
    put("val_overlap_d", m.overlap_d);
    put("val_energy_share", m.energy_share);
    put("val_pointing_game", m.pointing_game);
    put("val_hot_share", m.hot_share);
    put("val_bce", Some(m.bce));
    let mut extra = BTreeMap::new();
    extra.insert("run".to_string(), serde_json::json!(cfg.name));
    extra.insert("seed".to_string(), serde_json::json!(cfg.seed));
    extra.insert(
        "loss".to_string(),
        serde_json::to_value(cfg.loss).unwrap_or_default(),
    );
    extra.insert(
        "warmup_epochs".to_string(),
        serde_json::json!(cfg.warmup_epochs),
    );
    card.provenance = Provenance {
        dataset: dataset_name(&cfg.data),
        omega: cfg.loss.omega,
        epochs,
        metrics,
        extra,
    };
    card
}

/// The class names a multi-class checkpoint is saved with: the class indices `0`, `1`, …
pub fn class_names(num_outputs: usize) -> Vec<String> {
    (0..num_outputs).map(|k| k.to_string()).collect()
}

fn write_curves_of(run: &RunDir, history: &[EpochRecord]) -> anyhow::Result<()> {
    let s = |name: &str, f: &dyn Fn(&EpochRecord) -> Option<f64>| Series {
        name: name.to_string(),
        values: history.iter().map(f).collect(),
    };
    let loss = vec![
        s("train loss", &|r| Some(r.train_loss)),
        s("train bce", &|r| Some(r.train_bce)),
        s("train overlap term", &|r| Some(r.train_overlap)),
        s("validation loss", &|r| (r.val.n > 0).then_some(r.val.loss)),
        s("validation bce", &|r| (r.val.n > 0).then_some(r.val.bce)),
    ];
    let val = vec![
        s("validation accuracy", &|r| r.val.accuracy),
        s("validation balanced accuracy", &|r| r.val.balanced_accuracy),
        s("validation AUROC", &|r| r.val.auroc),
        s("validation F1", &|r| r.val.f1),
        s("validation energy inside mask", &|r| r.val.energy_share),
        s("validation pointing game", &|r| r.val.pointing_game),
        s("validation hot pixel share", &|r| r.val.hot_share),
    ];
    write_curves(
        &run.curves(),
        &[("loss", loss, None), ("validation", val, Some((0.0, 1.0)))],
    )
}

/// Trains as `cfg` says, in `cfg.run_dir`. With `resume`, continues from `last.safetensors` and
/// its state; `stop_after` ends the run after that many epochs in total (an interruption).
pub fn run_training(
    cfg: &TrainConfig,
    resume: bool,
    stop_after: Option<usize>,
    sink: &mut dyn ProgressSink,
) -> anyhow::Result<TrainOutcome> {
    let t_load = Instant::now();
    let dataset = load_dataset_for(
        &cfg.data,
        &cfg.preprocess,
        cfg.seed,
        cfg.val_fraction,
        cfg.model.num_outputs,
    )?;
    tracing::info!("data loaded in {:.1} s", t_load.elapsed().as_secs_f64());
    run_training_on(cfg, dataset, resume, stop_after, sink)
}

/// Trains as `cfg` says on `dataset`, already in memory (its `train` and `val` splits; `test` is
/// passed through to the outcome), ignoring `cfg.data` except as the name written to the model
/// card. This is how experiments with data built at run time (derived masks, painted decoys)
/// train; [`run_training`] loads `cfg.data` and calls it. `resume` and `stop_after` as there: a
/// resumed run must be given the same data.
///
/// For a multi-class model (`num_outputs = C ≥ 2`) the labels are class indices: an item with a
/// label `≥ C` is moved to the outcome's skipped list, named, before training.
pub fn run_training_on(
    cfg: &TrainConfig,
    mut dataset: Dataset,
    resume: bool,
    stop_after: Option<usize>,
    sink: &mut dyn ProgressSink,
) -> anyhow::Result<TrainOutcome> {
    let device: Device = crate::config::device_of(&cfg.device)?;
    skip_out_of_range(&mut dataset, cfg.model.num_outputs);
    if dataset.train.is_empty() {
        bail!(
            "the training split is empty ({} samples skipped)",
            dataset.skipped.len()
        );
    }
    if dataset.val.is_empty() {
        tracing::warn!(
            "the validation split is empty: validation metrics are undefined, `best` is the last epoch"
        );
    }
    tracing::info!(
        "data: {} train, {} validation, {} test, {} skipped",
        dataset.train.len(),
        dataset.val.len(),
        dataset.test.len(),
        dataset.skipped.len(),
    );
    let mut resolved = cfg.clone();
    if cfg.normalise_from_data && !dataset.train.is_empty() {
        resolved.preprocess = normalise_from_train(&mut dataset, &cfg.preprocess)?;
        resolved.normalise_from_data = false;
        tracing::info!(
            "normalisation from the training split: mean {:?}, std {:?}",
            resolved.preprocess.mean,
            resolved.preprocess.std
        );
    }
    let cfg = &resolved;
    let run = RunDir::create(&cfg.run_dir)?;

    let (net, _varmap, mut opt, mut st) = if resume {
        let (net, varmap, card) = load_checkpoint_trainable(run.last(), &device)
            .with_context(|| format!("loading {}", run.last().display()))?;
        let (moments, st) = load_state(&run.state(), &device)?;
        if card.provenance.epochs != st.epochs_done {
            bail!(
                "{} is at epoch {} but {} at epoch {}: the run folder is inconsistent",
                run.last().display(),
                card.provenance.epochs,
                run.state().display(),
                st.epochs_done
            );
        }
        let mut opt = AdamW::new(vars_of(&varmap)?, cfg.optimiser)?;
        opt.load_state(&moments, st.global_step)
            .context("restoring the optimiser")?;
        tracing::info!(
            "resuming {} after epoch {}",
            run.root.display(),
            st.epochs_done
        );
        (net, varmap, opt, st)
    } else {
        write_json_atomic(&run.config(), cfg)?;
        let (net, varmap) =
            CeodNet::seeded_with(&cfg.model, cfg.seed, cfg.init, DType::F32, &device)?;
        let opt = AdamW::new(vars_of(&varmap)?, cfg.optimiser)?;
        let st = LoopState {
            epochs_done: 0,
            global_step: 0,
            rng: SplitMix64::new(cfg.seed ^ 0x5EED_5EED_0000_0001),
            best: BestTracker::new(cfg.select),
            history: Vec::new(),
        };
        (net, varmap, opt, st)
    };

    let n = dataset.train.len();
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let schedule = ScheduleAt {
        schedule: cfg.schedule,
        base_lr: cfg.optimiser.lr,
        min_lr: cfg.min_lr,
        steps_per_epoch,
        epochs: cfg.epochs,
    };
    let last_epoch = stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs));
    for epoch in st.epochs_done..last_epoch {
        let t0 = Instant::now();
        let loss_opts = cfg.loss_at(epoch);
        let mut order: Vec<usize> = (0..n).collect();
        st.rng.shuffle(&mut order);
        sink.begin(
            &format!("epoch {}/{}", epoch + 1, cfg.epochs),
            steps_per_epoch as u64,
        );
        let mut sum = StepLoss::default();
        let mut lr = schedule.lr(st.global_step);
        for (k, ids) in order.chunks(cfg.batch_size).enumerate() {
            let flips: Vec<(bool, bool)> = ids
                .iter()
                .map(|_| {
                    let h = cfg.flip_h && st.rng.coin();
                    let v = cfg.flip_v && st.rng.coin();
                    (h, v)
                })
                .collect();
            let items: Vec<&Item> = ids.iter().map(|&i| &dataset.train[i]).collect();
            let batch = make_batch(&items, &flips, &device)?;
            lr = schedule.lr(st.global_step);
            opt.set_lr(lr);
            let parts = match train_step(&net, &mut opt, &batch, &loss_opts) {
                Ok(p) => p,
                Err(StepError::NonFinite { value }) => {
                    let kept = if st.epochs_done > 0 {
                        run.last().display().to_string()
                    } else {
                        "(none: no epoch finished)".to_string()
                    };
                    return Err(NanLoss {
                        epoch: epoch + 1,
                        step: k + 1,
                        value,
                        kept,
                    }
                    .into());
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("epoch {}, step {}", epoch + 1, k + 1));
                }
            };
            let w = ids.len() as f64;
            sum.total += parts.total * w;
            sum.bce += parts.bce * w;
            sum.overlap += parts.overlap * w;
            st.global_step += 1;
            sink.step(&format!("loss {:.4}", parts.total));
        }
        let (val, _) = evaluate(
            &net,
            &dataset.val,
            cfg.batch_size,
            &loss_opts,
            cfg.decision_threshold,
            &device,
        )
        .with_context(|| format!("validation after epoch {}", epoch + 1))?;
        let is_best = st.best.update(&val, epoch + 1);
        let rec = EpochRecord {
            epoch: epoch + 1,
            step: st.global_step,
            lr,
            omega: loss_opts.omega,
            train_loss: sum.total / n as f64,
            train_bce: sum.bce / n as f64,
            train_overlap: sum.overlap / n as f64,
            val: val.clone(),
            best: is_best,
            seconds: t0.elapsed().as_secs_f64(),
        };
        st.history.push(rec.clone());
        st.epochs_done = epoch + 1;
        let card = card_of(cfg, epoch + 1, &val);
        if is_best {
            save_checkpoint(run.best(), &net, &card).context("saving the best checkpoint")?;
        }
        // the state first, then the checkpoint it belongs to (resume checks that they agree)
        save_state(&run.state(), &opt.state_tensors(), &st)?;
        save_checkpoint(run.last(), &net, &card).context("saving the last checkpoint")?;
        write_jsonl_atomic(&run.metrics(), &st.history)?;
        write_curves_of(&run, &st.history)?;
        let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
        sink.finish(&format!(
            "epoch {}/{}: loss {:.4} (bce {:.4}, overlap {:.4}) | val acc {} auroc {} overlap_d {} energy {} {}({:.1} s)",
            epoch + 1,
            cfg.epochs,
            rec.train_loss,
            rec.train_bce,
            rec.train_overlap,
            f(val.accuracy),
            f(val.auroc),
            f(val.overlap_d),
            f(val.energy_share),
            if is_best { "best " } else { "" },
            rec.seconds
        ));
    }
    Ok(TrainOutcome {
        run_dir: run.root.clone(),
        best_epoch: st.best.best.map(|(_, e)| e),
        history: st.history,
        skipped: dataset.skipped.clone(),
        dataset,
    })
}
