//! `[train]`: epochs, batches, the learning rate, and two settings tagged by one key each, as
//! `[model]` is tagged by `head`: the optimizer (`optimizer = "adam" | "adamw" | "sgd"`) and the
//! learning-rate schedule (`schedule = "constant" | "step" | "cosine" | "poly"`), each with only
//! its own keys. A key of another optimizer or schedule is refused by name.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

/// serde's `default = ".."` names a function: one per default value.
macro_rules! defaults {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        $(fn $name() -> $ty { $value })*
    };
}

defaults! {
    momentum: f64 = 0.9;
    // burn's `AdamWConfig` default, so that `optimizer = "adamw"` alone is burn's AdamW.
    adamw_weight_decay: f64 = 1e-4;
    step_epochs: usize = 10;
    gamma: f64 = 0.1;
    power: f64 = 2.0;
}

/// The optimizer and its own keys, with each key's default. Weight decay applies to every
/// parameter (backbone, batch norm and head alike), as burn's optimizers apply it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "optimizer", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerSettings {
    /// burn's Adam; weight decay as an L2 term added to the gradient.
    Adam {
        #[serde(default)]
        weight_decay: f64,
    },
    /// burn's AdamW: weight decay decoupled from the gradient (`w -= lr * weight_decay * w`).
    Adamw {
        #[serde(default = "adamw_weight_decay")]
        weight_decay: f64,
    },
    /// burn's SGD, with momentum as PyTorch's (no dampening); weight decay as an L2 term.
    Sgd {
        #[serde(default = "momentum")]
        momentum: f64,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f64,
    },
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings::Adam { weight_decay: 0.0 }
    }
}

impl OptimizerSettings {
    /// The weight decay, whichever the optimizer.
    pub fn weight_decay(&self) -> f64 {
        match *self {
            OptimizerSettings::Adam { weight_decay }
            | OptimizerSettings::Adamw { weight_decay }
            | OptimizerSettings::Sgd { weight_decay, .. } => weight_decay,
        }
    }
}

/// How the learning rate falls after the warm-up, with each key's default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(tag = "schedule", rename_all = "lowercase", deny_unknown_fields)]
pub enum ScheduleSettings {
    /// `lr` throughout.
    #[default]
    Constant,
    /// `lr * gamma^k` in the k-th block of `step_epochs` epochs after the warm-up.
    Step {
        #[serde(default = "step_epochs")]
        step_epochs: usize,
        #[serde(default = "gamma")]
        gamma: f64,
    },
    /// Half a cosine from `lr` down to `min_lr` over the epochs after the warm-up.
    Cosine {
        #[serde(default)]
        min_lr: f64,
    },
    /// `min_lr + (lr - min_lr) (1 - u)^power`, `u` the share of the epochs after the warm-up
    /// done (insightface's PolyScheduler: power 2, min_lr 0).
    Poly {
        #[serde(default = "power")]
        power: f64,
        #[serde(default)]
        min_lr: f64,
    },
}

/// `[train]`.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// The peak learning rate: the rate after the warm-up, before the schedule lowers it.
    pub lr: f64,
    /// `optimizer = ".."` and its keys.
    #[serde(flatten)]
    pub optimizer: OptimizerSettings,
    /// `schedule = ".."` and its keys.
    #[serde(flatten)]
    pub schedule: ScheduleSettings,
    /// Epochs over which the rate rises linearly, step by step, from `lr / steps` to `lr`.
    pub warmup_epochs: usize,
    /// Largest L2 norm of each parameter tensor's gradient (burn's `GradientClipping::Norm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// A run folder (its best checkpoint) or a checkpoint `.bpk` file inside a run to start from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Epochs at the start during which the backbone's parameters are not updated.
    pub freeze_backbone_epochs: usize,
    /// Threads that assemble batches while the model steps.
    pub num_workers: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            lr: 1e-3,
            optimizer: OptimizerSettings::default(),
            schedule: ScheduleSettings::default(),
            warmup_epochs: 0,
            clip_grad_norm: None,
            init_from: None,
            freeze_backbone_epochs: 0,
            num_workers: 2,
        }
    }
}

/// Every key `[train]` may hold, whatever the optimizer and schedule: typos and wrong types are
/// refused here, by serde, at their line.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TrainKeys {
    epochs: Option<usize>,
    batch_size: Option<usize>,
    lr: Option<f64>,
    optimizer: Option<OptimizerKind>,
    momentum: Option<f64>,
    nesterov: Option<bool>,
    weight_decay: Option<f64>,
    schedule: Option<ScheduleKind>,
    warmup_epochs: Option<usize>,
    step_epochs: Option<usize>,
    gamma: Option<f64>,
    min_lr: Option<f64>,
    power: Option<f64>,
    clip_grad_norm: Option<f64>,
    init_from: Option<PathBuf>,
    freeze_backbone_epochs: Option<usize>,
    num_workers: Option<usize>,
}

/// The optimizer names: serde's error for another name lists them.
#[derive(Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum OptimizerKind {
    Adam,
    Adamw,
    Sgd,
}

/// The schedule names.
#[derive(Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum ScheduleKind {
    Constant,
    Step,
    Cosine,
    Poly,
}

/// A family of settings tagged by one key: its tag and its kinds' names.
trait Tagged: DeserializeOwned + Serialize {
    const TAG: &'static str;
    const KINDS: &'static [&'static str];
}

impl Tagged for OptimizerSettings {
    const TAG: &'static str = "optimizer";
    const KINDS: &'static [&'static str] = &["adam", "adamw", "sgd"];
}

impl Tagged for ScheduleSettings {
    const TAG: &'static str = "schedule";
    const KINDS: &'static [&'static str] = &["constant", "step", "cosine", "poly"];
}

/// The keys of `kind` (besides the tag), read off its defaults.
fn keys_of<T: Tagged>(kind: &str) -> Vec<String> {
    let table = toml::Table::from_iter([(T::TAG.to_string(), kind.into())]);
    // Every key of every kind has a default, so the name alone deserialises.
    T::deserialize(toml::Value::Table(table))
        .ok()
        .and_then(|settings| toml::Table::try_from(settings).ok())
        .map(|t| {
            t.into_iter()
                .map(|(k, _)| k)
                .filter(|k| k != T::TAG)
                .collect()
        })
        .unwrap_or_default()
}

/// The settings of `kind` from the `[train]` keys in `table`; a key of another kind of the
/// family is refused: "key `train.momentum`: [train] optimizer = "adam" has no key `momentum`
/// (it belongs to sgd)".
fn settings_of<T: Tagged>(table: &toml::Table, kind: &str) -> Result<T, String> {
    let own = keys_of::<T>(kind);
    for key in table.keys() {
        let owners: Vec<&str> = T::KINDS
            .iter()
            .copied()
            .filter(|k| keys_of::<T>(k).contains(key))
            .collect();
        if !owners.is_empty() && !own.contains(key) {
            return Err(format!(
                "key `train.{key}`: [train] {} = \"{kind}\" has no key `{key}` (it belongs to {})",
                T::TAG,
                owners.join(", ")
            ));
        }
    }
    let mut mine: toml::Table = table
        .iter()
        .filter(|(k, _)| own.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    mine.insert(T::TAG.into(), kind.into());
    T::deserialize(toml::Value::Table(mine)).map_err(|e| e.to_string())
}

/// The name serde gives a unit enum value (`OptimizerKind::Sgd` -> "sgd").
fn name_of<K: Serialize>(kind: K) -> String {
    match toml::Value::try_from(kind) {
        Ok(toml::Value::String(name)) => name,
        _ => String::new(),
    }
}

impl<'de> Deserialize<'de> for TrainConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = TrainKeys::deserialize(deserializer)?;
        let table = toml::Table::try_from(&keys).map_err(D::Error::custom)?;
        let optimizer = name_of(keys.optimizer.unwrap_or(OptimizerKind::Adam));
        let schedule = name_of(keys.schedule.unwrap_or(ScheduleKind::Constant));
        let defaults = TrainConfig::default();
        Ok(TrainConfig {
            epochs: keys.epochs.unwrap_or(defaults.epochs),
            batch_size: keys.batch_size.unwrap_or(defaults.batch_size),
            lr: keys.lr.unwrap_or(defaults.lr),
            optimizer: settings_of(&table, &optimizer).map_err(D::Error::custom)?,
            schedule: settings_of(&table, &schedule).map_err(D::Error::custom)?,
            warmup_epochs: keys.warmup_epochs.unwrap_or(defaults.warmup_epochs),
            clip_grad_norm: keys.clip_grad_norm,
            init_from: keys.init_from,
            freeze_backbone_epochs: keys
                .freeze_backbone_epochs
                .unwrap_or(defaults.freeze_backbone_epochs),
            num_workers: keys.num_workers.unwrap_or(defaults.num_workers),
        })
    }
}

/// Threads `train.num_workers` may ask for: far more than any machine has cores.
const MAX_WORKERS: usize = 1024;

impl TrainConfig {
    /// The checks of `[train]`, each naming its key.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("key `train.epochs` = 0: expected at least 1 epoch");
        }
        if self.batch_size == 0 {
            bail!("key `train.batch_size` = 0: expected at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!(
                "key `train.lr` = {}: expected a positive learning rate",
                self.lr
            );
        }
        if self.num_workers > MAX_WORKERS {
            bail!(
                "key `train.num_workers` = {}: expected 0..={MAX_WORKERS} threads",
                self.num_workers
            );
        }
        if self.warmup_epochs >= self.epochs {
            bail!(
                "key `train.warmup_epochs` = {}: expected fewer warm-up epochs than train.epochs = {}",
                self.warmup_epochs,
                self.epochs
            );
        }
        if self.freeze_backbone_epochs > self.epochs {
            bail!(
                "key `train.freeze_backbone_epochs` = {}: expected at most train.epochs = {}",
                self.freeze_backbone_epochs,
                self.epochs
            );
        }
        let decay = self.optimizer.weight_decay();
        if !(decay.is_finite() && decay >= 0.0) {
            bail!("key `train.weight_decay` = {decay}: expected a finite number >= 0");
        }
        if let OptimizerSettings::Sgd {
            momentum, nesterov, ..
        } = self.optimizer
        {
            if !(0.0..1.0).contains(&momentum) {
                bail!("key `train.momentum` = {momentum}: expected a number in [0, 1)");
            }
            if nesterov && momentum == 0.0 {
                bail!(
                    "key `train.nesterov` = true: Nesterov momentum needs train.momentum > 0 (it is 0)"
                );
            }
        }
        if let Some(norm) = self.clip_grad_norm
            && !(norm.is_finite() && norm > 0.0)
        {
            bail!("key `train.clip_grad_norm` = {norm}: expected a positive L2 norm");
        }
        if let Some(path) = &self.init_from
            && path.as_os_str().is_empty()
        {
            bail!(
                "key `train.init_from` = \"\": expected a run folder or a checkpoint .bpk file in one"
            );
        }
        match self.schedule {
            ScheduleSettings::Constant => {}
            ScheduleSettings::Step { step_epochs, gamma } => {
                if step_epochs == 0 {
                    bail!("key `train.step_epochs` = 0: expected at least 1 epoch");
                }
                if !(gamma > 0.0 && gamma <= 1.0) {
                    bail!("key `train.gamma` = {gamma}: expected a factor in (0, 1]");
                }
            }
            ScheduleSettings::Cosine { min_lr } => self.check_min_lr(min_lr)?,
            ScheduleSettings::Poly { power, min_lr } => {
                if !(power.is_finite() && power > 0.0) {
                    bail!("key `train.power` = {power}: expected a finite number > 0");
                }
                self.check_min_lr(min_lr)?;
            }
        }
        Ok(())
    }

    /// Whether every step's rate is `lr`: a constant schedule without warm-up.
    pub fn is_constant_rate(&self) -> bool {
        self.schedule == ScheduleSettings::Constant && self.warmup_epochs == 0
    }

    fn check_min_lr(&self, min_lr: f64) -> Result<()> {
        if !(min_lr >= 0.0 && min_lr <= self.lr) {
            bail!(
                "key `train.min_lr` = {min_lr}: expected 0 <= min_lr <= train.lr = {}",
                self.lr
            );
        }
        Ok(())
    }

    /// "SGD (momentum 0.9, weight decay 0.0005), cosine schedule to 0 after 1 warm-up epoch".
    pub fn describe(&self) -> String {
        let optimizer = match self.optimizer {
            OptimizerSettings::Adam { weight_decay } => {
                format!("Adam, weight decay {weight_decay}")
            }
            OptimizerSettings::Adamw { weight_decay } => {
                format!("AdamW, decoupled weight decay {weight_decay}")
            }
            OptimizerSettings::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => format!(
                "SGD, {}momentum {momentum}, weight decay {weight_decay}",
                if nesterov { "Nesterov " } else { "" }
            ),
        };
        let schedule = match self.schedule {
            ScheduleSettings::Constant => "constant".to_string(),
            ScheduleSettings::Step { step_epochs, gamma } => {
                format!("x {gamma} every {step_epochs} epochs")
            }
            ScheduleSettings::Cosine { min_lr } => format!("cosine to {min_lr}"),
            ScheduleSettings::Poly { power, min_lr } => format!("poly (power {power}) to {min_lr}"),
        };
        let warmup = match self.warmup_epochs {
            0 => String::new(),
            n => format!(" after {n} warm-up epochs"),
        };
        let clip = match self.clip_grad_norm {
            Some(norm) => format!("; gradients clipped to norm {norm} per tensor"),
            None => String::new(),
        };
        format!("{optimizer}; lr {} {schedule}{warmup}{clip}", self.lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_keys() {
        let keys = |kinds: &[&str], f: fn(&str) -> Vec<String>| -> Vec<Vec<String>> {
            kinds
                .iter()
                .map(|k| {
                    let mut keys = f(k);
                    keys.sort();
                    keys
                })
                .collect()
        };
        assert_eq!(
            keys(OptimizerSettings::KINDS, keys_of::<OptimizerSettings>),
            [
                vec!["weight_decay"],
                vec!["weight_decay"],
                vec!["momentum", "nesterov", "weight_decay"]
            ]
        );
        assert_eq!(
            keys(ScheduleSettings::KINDS, keys_of::<ScheduleSettings>),
            [
                vec![],
                vec!["gamma", "step_epochs"],
                vec!["min_lr"],
                vec!["min_lr", "power"]
            ]
        );
    }
}
