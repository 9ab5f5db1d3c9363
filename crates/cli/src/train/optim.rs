//! `[train]`'s optimizer and learning-rate schedule, in burn-optim's terms (the backbone freeze
//! is `EmbeddingNet::head_step`, which computes no backbone gradient).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::{OptimizerSettings, ScheduleSettings, TrainConfig};

/// burn's optimizer for `train`: Adam, AdamW or SGD, with `train.clip_grad_norm` as burn's
/// per-tensor norm clipping. The defaults (Adam, no weight decay, no clipping) are
/// `AdamConfig::new()`, what every run used before `optimizer` existed.
pub fn optimizer(train: &TrainConfig) -> ModuleOptimizer {
    let clip = train
        .clip_grad_norm
        .map(|norm| GradientClippingConfig::Norm(norm as f32));
    // burn's optimizers take an L2 penalty as `Option`: none at 0, so that 0 is exactly the
    // optimizer without it.
    let l2 = |decay: f64| (decay > 0.0).then(|| WeightDecayConfig::new(decay as f32));
    match train.optimizer {
        OptimizerSettings::Adam { weight_decay } => AdamConfig::new()
            .with_weight_decay(l2(weight_decay))
            .with_grad_clipping(clip)
            .init(),
        OptimizerSettings::Adamw { weight_decay } => AdamWConfig::new()
            .with_weight_decay(weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        OptimizerSettings::Sgd {
            momentum,
            nesterov,
            weight_decay,
        } => {
            // burn's momentum dampens the gradient by 0.1 by default; PyTorch's SGD (and
            // insightface's recipes with it) does not.
            let momentum = (momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0)
                    .with_nesterov(nesterov)
            });
            SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay(l2(weight_decay))
                .with_gradient_clipping(clip)
                .init()
        }
    }
}

/// The learning rate of every optimizer step, a function of the epoch and the step within it.
///
/// Step `k` (0-based over the whole run, `S` steps an epoch, `W` warm-up epochs, `E` epochs):
/// during the warm-up (`k < W S`) the rate rises linearly, `lr (k + 1) / (W S)`; after it,
/// with `j = k - W S` the steps since and `u = j / ((E - W) S)` the share of them done, it is
/// `lr` (constant), `lr gamma^floor(j / (step_epochs S))` (step),
/// `min_lr + (lr - min_lr) (1 + cos(pi u)) / 2` (cosine) or `min_lr + (lr - min_lr) (1 - u)^power`
/// (poly).
///
/// burn's own schedulers step per optimizer step too, but its linear and cosine ones refuse
/// rates above 1, it has no polynomial decay, and its sequential scheduler chains only its own
/// kinds, so a warm-up before poly cannot be built from them: this one closed form serves
/// every schedule instead, and its record (the steps taken) is what `--resume` restores.
#[derive(Debug, Clone)]
pub struct LrSchedule {
    lr: f64,
    shape: ScheduleSettings,
    epochs: usize,
    warmup_epochs: usize,
    steps_per_epoch: usize,
    /// Optimizer steps taken so far.
    taken: usize,
}

/// The record's key for [`LrSchedule::taken`].
const TAKEN: &str = "taken";

impl LrSchedule {
    /// The schedule of `train` over epochs of `steps_per_epoch` optimizer steps.
    pub fn new(train: &TrainConfig, steps_per_epoch: usize) -> Self {
        Self {
            lr: train.lr,
            shape: train.schedule.clone(),
            epochs: train.epochs,
            warmup_epochs: train.warmup_epochs,
            steps_per_epoch: steps_per_epoch.max(1),
            taken: 0,
        }
    }

    /// The rate of step `k` (0-based over the run).
    pub fn rate(&self, k: usize) -> f64 {
        let s = self.steps_per_epoch;
        let warmup = self.warmup_epochs * s;
        if k < warmup {
            return self.lr * (k + 1) as f64 / warmup as f64;
        }
        let j = k - warmup;
        // A run extended past the epochs its schedule was made for (`--resume --epochs`) is
        // recomputed for the new length; `u` never passes the end.
        let decay = (self.epochs.saturating_sub(self.warmup_epochs) * s).max(1);
        let u = (j as f64 / decay as f64).min(1.0);
        match self.shape {
            ScheduleSettings::Constant => self.lr,
            ScheduleSettings::Step { step_epochs, gamma } => {
                let drops = j / (step_epochs.max(1) * s);
                self.lr * gamma.powi(i32::try_from(drops).unwrap_or(i32::MAX))
            }
            ScheduleSettings::Cosine { min_lr } => {
                min_lr + (self.lr - min_lr) * (1.0 + (std::f64::consts::PI * u).cos()) / 2.0
            }
            ScheduleSettings::Poly { power, min_lr } => {
                min_lr + (self.lr - min_lr) * (1.0 - u).powf(power)
            }
        }
    }
}

impl LrScheduler for LrSchedule {
    fn step(&mut self) -> f64 {
        let rate = self.rate(self.taken);
        self.taken += 1;
        rate
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar(TAKEN, self.taken)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        // A record without it is a run from before schedules existed: a constant rate, for
        // which the count does not matter. `resume` checks the count against the epochs done.
        if let Some(taken) = record.scalar::<usize>(TAKEN) {
            self.taken = taken;
        }
    }
}

/// The steps a resumed run's schedule record says were taken, if it says. The record is the
/// learner's: burn's `ModuleLrScheduler` keeps the scheduler of its one (all-parameter) group
/// under the prefix "0".
pub fn steps_taken(record: &LrSchedulerRecord) -> Option<usize> {
    record.record("0").scalar::<usize>(TAKEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::prelude::*;

    fn train(extra: &str) -> TrainConfig {
        let text = format!(
            "name = \"t\"\n[data]\nkind = \"mnist\"\nroot = \"/nowhere\"\n[train]\n{extra}"
        );
        crate::config::RunConfig::parse(&text, std::path::Path::new("t.toml"), &[])
            .unwrap_or_else(|e| panic!("{e:#}"))
            .train
    }

    /// The rates of every step of a run of `train`, `steps` steps an epoch, as burn's learner
    /// draws them (one `step` per optimizer step).
    fn rates(train: &TrainConfig, steps: usize) -> Vec<f64> {
        let mut schedule = LrSchedule::new(train, steps);
        (0..train.epochs * steps).map(|_| schedule.step()).collect()
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-12, "step {i}: {g} vs {w}\n{got:?}");
        }
    }

    #[test]
    fn constant_is_lr_and_warms_up_linearly() {
        assert_close(&rates(&train("epochs = 3\nlr = 0.01\n"), 2), &[0.01; 6]);
        // 1 warm-up epoch of 4 steps: 0.1 x 1/4, 2/4, 3/4, 4/4, then 0.1.
        assert_close(
            &rates(&train("epochs = 2\nlr = 0.1\nwarmup_epochs = 1\n"), 4),
            &[0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1, 0.1],
        );
    }

    #[test]
    fn step_multiplies_by_gamma_every_step_epochs_after_the_warm_up() {
        // lr 0.1, gamma 0.5 every 2 epochs, 1 step an epoch, 5 epochs: 0.1 0.1 0.05 0.05 0.025.
        assert_close(
            &rates(
                &train("epochs = 5\nlr = 0.1\nschedule = \"step\"\nstep_epochs = 2\ngamma = 0.5\n"),
                1,
            ),
            &[0.1, 0.1, 0.05, 0.05, 0.025],
        );
        // With 1 warm-up epoch of 2 steps the blocks count from its end.
        assert_close(
            &rates(
                &train(
                    "epochs = 4\nlr = 0.1\nschedule = \"step\"\nstep_epochs = 2\ngamma = 0.1\nwarmup_epochs = 1\n",
                ),
                2,
            ),
            &[0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01],
        );
    }

    #[test]
    fn cosine_falls_from_lr_to_min_lr_after_the_warm_up() {
        // lr 0.1, min 0, 4 epochs of 2 steps, 1 warm-up epoch: 0.05, 0.1, then 6 decay steps
        // at u = 0, 1/6, .., 5/6: 0.05 (1 + cos(pi u)) = 0.1, 0.0933013, 0.075, 0.05, 0.025,
        // 0.0066987.
        let got = rates(
            &train("epochs = 4\nlr = 0.1\nschedule = \"cosine\"\nwarmup_epochs = 1\n"),
            2,
        );
        assert_close(
            &got,
            &[
                0.05,
                0.1,
                0.1,
                0.05 * (1.0 + 0.866_025_403_784_438_6),
                0.075,
                0.05,
                0.025,
                0.05 * (1.0 - 0.866_025_403_784_438_6),
            ],
        );
        // The rate of each epoch's first step, what metrics.csv's lr shows: 0.05 0.1 0.075 0.025.
        let firsts: Vec<f64> = got.iter().step_by(2).copied().collect();
        assert_close(&firsts, &[0.05, 0.1, 0.075, 0.025]);
        // min_lr 0.02, no warm-up, 2 epochs of 1 step: 0.1, then 0.02 + 0.08 x (1 + cos(pi/2))/2.
        assert_close(
            &rates(
                &train("epochs = 2\nlr = 0.1\nschedule = \"cosine\"\nmin_lr = 0.02\n"),
                1,
            ),
            &[0.1, 0.06],
        );
    }

    #[test]
    fn poly_falls_as_a_power_of_the_share_left() {
        // lr 0.1, power 2, min 0, 4 epochs of 1 step: 0.1 x (1 - u)^2 at u = 0, 1/4, 1/2, 3/4.
        assert_close(
            &rates(&train("epochs = 4\nlr = 0.1\nschedule = \"poly\"\n"), 1),
            &[0.1, 0.05625, 0.025, 0.00625],
        );
        // power 1, min 0.01, 1 warm-up epoch of 1 step, 3 epochs: 0.1, then 0.01 + 0.09 (1 - u)
        // at u = 0, 1/2.
        assert_close(
            &rates(
                &train(
                    "epochs = 3\nlr = 0.1\nschedule = \"poly\"\npower = 1.0\nmin_lr = 0.01\nwarmup_epochs = 1\n",
                ),
                1,
            ),
            &[0.1, 0.1, 0.055],
        );
    }

    #[test]
    fn a_restored_schedule_continues_where_it_stopped() {
        use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
        let config = train("epochs = 4\nlr = 0.1\nschedule = \"cosine\"\nwarmup_epochs = 1\n");
        let all = rates(&config, 3);
        // Wrapped as burn's learner wraps it, and saved and loaded as its checkpointer does.
        let mut first = ModuleLrScheduler::new(LrSchedule::new(&config, 3));
        let before: Vec<f64> = (0..5).map(|_| first.step().base()).collect();
        let record = first.to_record();
        assert_eq!(steps_taken(&record), Some(5));
        let mut resumed = ModuleLrScheduler::new(LrSchedule::new(&config, 3)).load_record(record);
        let after: Vec<f64> = (5..12).map(|_| resumed.step().base()).collect();
        assert_eq!([before, after].concat(), all);
    }

    /// Two SGD steps with momentum 0.9 and weight decay 0.1 at lr 0.1 on a 2x2 linear layer,
    /// loss = the sum of its outputs for the input [1, 2], against the update worked by hand:
    /// g = dL/dW + 0.1 W with dL/dW[i][j] = x[i] and dL/db = 1; v1 = g1, v2 = 0.9 v1 + g2
    /// (PyTorch's SGD: no dampening); W <- W - 0.1 v.
    #[cfg(feature = "flex")]
    #[test]
    fn sgd_with_momentum_and_weight_decay_by_hand() {
        use burn::nn::{Linear, LinearConfig};
        let device = Device::flex().autodiff();
        let mut layer: Linear = LinearConfig::new(2, 2).init(&device);
        layer.weight = Param::from_tensor(Tensor::from_floats([[0.5, -1.0], [2.0, 0.0]], &device));
        layer.bias = Some(Param::from_tensor(Tensor::from_floats([0.0, 1.0], &device)));
        let config = train("lr = 0.1\noptimizer = \"sgd\"\nmomentum = 0.9\nweight_decay = 0.1\n");
        let mut optim = optimizer(&config);
        for _ in 0..2 {
            let x = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
            let loss = layer.forward(x).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optim.step(0.1, layer, grads);
        }
        // Step 1: gW = [[1.05, 0.9], [2.2, 2.0]], W1 = [[0.395, -1.09], [1.78, -0.2]];
        //         gb = [1.0, 1.1], b1 = [-0.1, 0.89].
        // Step 2: gW = [[1.0395, 0.891], [2.178, 1.98]], v = [[1.9845, 1.701], [4.158, 3.78]],
        //         W2 = [[0.19655, -1.2601], [1.3642, -0.578]];
        //         gb = [0.99, 1.089], v = [1.89, 2.079], b2 = [-0.289, 0.6821].
        let weight = layer
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let bias = layer
            .bias
            .map(|b| b.val().into_data().try_to_vec::<f32>().unwrap_or_default())
            .unwrap_or_default();
        let want_w = [0.19655, -1.2601, 1.3642, -0.578];
        let want_b = [-0.289, 0.6821];
        for (got, want) in weight.iter().zip(&want_w).chain(bias.iter().zip(&want_b)) {
            assert!((got - want).abs() < 1e-5, "{weight:?} {bias:?}");
        }
        assert_eq!((weight.len(), bias.len()), (4, 2));
    }

    #[test]
    fn the_default_optimizer_is_plain_adam() {
        let optim = optimizer(&train(""));
        assert!(!optim.has_gradient_clipping());
        assert!(optimizer(&train("clip_grad_norm = 1.0\n")).has_gradient_clipping());
    }
}
