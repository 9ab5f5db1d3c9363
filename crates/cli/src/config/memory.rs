//! Whether the tensors a config implies can fit in this machine's memory at all: a size that
//! cannot is refused before anything is written, instead of aborting in the allocator.

use anyhow::{Result, bail};

use super::model::{BackboneKind, DEFAULT_BASE_WIDTH};

/// Output channels of VGG8's first conv layer, whose activations are the largest of a step.
const VGG8_FIRST_CONV_CHANNELS: u128 = 16;
/// Channels after VGG8's last block, flattened (with the pixels left after three 2x2
/// max-pools) into the embedding layer.
const VGG8_LAST_CONV_CHANNELS: u128 = 64;
/// Bytes of an f32.
const F32: u128 = 4;
/// Images per eval-mode batch (validation, snapshots, `eval`), which a training run also holds
/// at once. Eval-mode passes have no backward and no batch statistics, so this only trades
/// memory for speed.
pub const EVAL_BATCH: usize = 256;

/// What the estimate's terms are called in the message (key and value, as the user set
/// them: `model.embedding_dim = 512` or `--dim 512`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    /// The embedding size.
    pub dim: String,
    /// The class count, when the user set it.
    pub classes: Option<String>,
    /// The batch size.
    pub batch: String,
    /// The input image shape.
    pub input: String,
}

/// The shapes behind the largest tensors of a training step. All arithmetic saturates, so
/// an absurd size gives an absurd (but ordered) figure instead of wrapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    /// Classes of the head.
    pub classes: u128,
    /// Weight vectors per class (sub-center ArcFace's `sub_centers`, else 1).
    pub per_class: u128,
    /// Embedding size.
    pub dim: u128,
    /// Images per step.
    pub batch: u128,
    /// Images per eval-mode batch ([`EVAL_BATCH`] when training, 0 for the benches).
    pub eval_batch: u128,
    /// `[channels, height, width]` of an input image; `[0, 0, 0]` when no backbone runs
    /// (the head bench).
    pub input: [u128; 3],
    /// Copies of every parameter: 4 when training with Adam (weights, gradient, two
    /// moments), 2 for forward + backward alone (weights, gradient).
    pub copies: u128,
    /// Output channels of the backbone's first conv layer (its activations are the largest of
    /// a step), 0 without a backbone.
    pub first_channels: u128,
    /// Features the embedding layer reads, 0 without a backbone.
    pub features: u128,
    /// How the message names each term.
    pub names: Names,
}

/// [`Footprint::first_channels`] and [`Footprint::features`] of `backbone` on `[c, h, w]` images.
pub fn backbone_sizes(
    backbone: BackboneKind,
    base_width: Option<usize>,
    [_, h, w]: [usize; 3],
) -> (u128, u128) {
    let base = base_width.unwrap_or(DEFAULT_BASE_WIDTH) as u128;
    let (h, w) = (h as u128, w as u128);
    match backbone {
        // Three 2x2 max-pools, rounding down.
        BackboneKind::Vgg8 => (
            VGG8_FIRST_CONV_CHANNELS,
            VGG8_LAST_CONV_CHANNELS
                .saturating_mul(h / 8)
                .saturating_mul(w / 8),
        ),
        // Global average pooling of the last stage's 8 x base channels.
        BackboneKind::Resnet18 => (base, base.saturating_mul(8)),
        // Four stride-2 stages, rounding up, flattened.
        BackboneKind::Iresnet18 => (
            base,
            base.saturating_mul(8)
                .saturating_mul(h.div_ceil(16))
                .saturating_mul(w.div_ceil(16)),
        ),
    }
}

impl Footprint {
    /// Features the embedding layer reads (see [`backbone_sizes`]), 0 without a backbone.
    pub fn flattened(&self) -> u128 {
        self.features
    }

    /// Bytes of the head (`classes x per_class x dim`) and the embedding layer
    /// (`flattened x dim`) weights, times `copies`, in f32.
    pub fn parameter_bytes(&self) -> u128 {
        let head = self.classes.saturating_mul(self.per_class);
        head.saturating_add(self.flattened())
            .saturating_mul(self.dim)
            .saturating_mul(self.copies)
            .saturating_mul(F32)
    }

    /// Images in the largest batch: the training batch or the eval-mode one.
    pub fn images(&self) -> u128 {
        self.batch.max(self.eval_batch)
    }

    /// Bytes of the largest batch of input images and of the first conv layer's output:
    /// `images x (channels + 16) x H x W` f32.
    pub fn activation_bytes(&self) -> u128 {
        let [c, h, w] = self.input;
        if c == 0 {
            return 0;
        }
        self.images()
            .saturating_mul(c.saturating_add(self.first_channels))
            .saturating_mul(h)
            .saturating_mul(w)
            .saturating_mul(F32)
    }

    /// The two together: a lower bound of what one step holds at once.
    pub fn total_bytes(&self) -> u128 {
        self.parameter_bytes()
            .saturating_add(self.activation_bytes())
    }
}

/// The machine's memory in bytes: `MemTotal` of /proc/meminfo (Linux); `None` elsewhere or
/// when it cannot be read, and then nothing is refused.
pub fn machine_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

/// `MemTotal:  16314368 kB` -> bytes (the kernel's kB are KiB).
pub fn parse_mem_total(meminfo: &str) -> Option<u128> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut words = line.split_whitespace();
    let value: u128 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// `1234567` -> `"1.2 MB"` (decimal units, one decimal).
pub fn format_bytes(bytes: u128) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    while bytes >= 1000u128.pow(unit as u32 + 1) && unit + 1 < UNITS.len() {
        unit += 1;
    }
    // One division, so that the figure is the correctly rounded quotient.
    let value = bytes as f64 / 1000f64.powi(unit as i32);
    format!("{value:.1} {}", UNITS[unit])
}

/// Refuses `footprint` when it exceeds `memory` bytes, naming the keys behind its larger
/// part and both parts' sizes and formulas.
pub fn check_fits(footprint: &Footprint, memory: Option<u128>) -> Result<()> {
    let Some(memory) = memory else {
        return Ok(());
    };
    let total = footprint.total_bytes();
    if total <= memory {
        return Ok(());
    }
    let f = footprint;
    let (params, acts) = (f.parameter_bytes(), f.activation_bytes());
    let names = &f.names;
    let lead = if params >= acts {
        match &names.classes {
            Some(classes) if f.classes.saturating_mul(f.per_class) > f.flattened() => {
                format!("{} with {classes}", names.dim)
            }
            _ => names.dim.clone(),
        }
    } else if f.eval_batch > f.batch {
        format!(
            "{} with validation batches of {} images",
            names.input, f.eval_batch
        )
    } else {
        format!("{} with {}", names.batch, names.input)
    };
    let copies = if f.copies >= 4 {
        "weights, gradient and Adam's two moments"
    } else {
        "weights and gradient"
    };
    let head = if f.per_class > 1 {
        format!("{} classes x {} sub-centres", f.classes, f.per_class)
    } else {
        format!("{} classes", f.classes)
    };
    let mut parts = vec![if f.flattened() == 0 {
        format!(
            "the head {} ({} x {head} x {} bytes: {copies}, f32)",
            format_bytes(params),
            f.dim,
            f.copies * F32
        )
    } else {
        format!(
            "the head and the embedding layer {} ({} x ({head} + {} flattened features) x {} bytes: {copies}, f32)",
            format_bytes(params),
            f.dim,
            f.flattened(),
            f.copies * F32
        )
    }];
    if acts > 0 {
        let [c, h, w] = f.input;
        parts.push(format!(
            "a batch of input images and the first conv layer's output {} ({} images{} x ({c} + {}) channels x {h} x {w} pixels x 4 bytes)",
            format_bytes(acts),
            f.images(),
            if f.eval_batch > f.batch {
                " (the validation and snapshot batch)"
            } else {
                ""
            },
            f.first_channels
        ));
    }
    bail!(
        "{lead}: {} would need at least {}, more than this machine's {} of memory (MemTotal in /proc/meminfo): {}",
        if f.copies >= 4 {
            "training"
        } else {
            "the head bench"
        },
        format_bytes(total),
        format_bytes(memory),
        parts.join("; ")
    )
}
