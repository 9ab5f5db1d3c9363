//! The run configuration: one TOML file, unknown keys rejected, `--set key=value` overrides.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arcface_core::{BackboneConfig, EmbeddingNetConfig, ResNetConfig, ResNetKind, Vgg8Config};
use celeba_data::DataConfig;
use serde::{Deserialize, Serialize};

pub mod memory;
mod model;
mod train;

pub use model::{BackboneKind, DEFAULT_BASE_WIDTH, HeadKind, ModelConfig, parse_head};
pub use train::{OptimizerSettings, ScheduleSettings, TrainConfig};

/// Everything a run needs; written back, resolved, as `<run>/config.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Name of the run: its folder is `<out_dir>/<name>`.
    pub name: String,
    /// Folder that holds the runs (relative paths are relative to the working directory).
    #[serde(default = "default_out_dir")]
    pub out_dir: PathBuf,
    /// Seed of the split, the weight initialisation and the batch order.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The data set (`kind = "synthetic" | "celeba" | "mnist"`).
    pub data: DataConfig,
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// Optimisation.
    #[serde(default)]
    pub train: TrainConfig,
    /// Pictures.
    #[serde(default)]
    pub render: RenderConfig,
    /// `arcface-lab compare`: which heads, and how the grid is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareConfig>,
}

/// `[compare]`: one run per head on the same data, split, seed and epochs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompareConfig {
    /// Heads to train, in grid order.
    pub heads: Vec<HeadKind>,
    /// Width of the comparison grid of square tiles, pixels (tiles with the sphere's map, and
    /// so the grid, are twice as wide).
    pub size: u32,
    /// Margin per head (`cosface = 0.2`); a head not listed keeps `model.margin` when it is the
    /// config's own head, else its paper default (ArcFace 0.5, CosFace 0.35, SphereFace 4). Only
    /// heads with a `margin` key may be listed.
    pub margins: std::collections::BTreeMap<HeadKind, f64>,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            heads: vec![
                HeadKind::Softmax,
                HeadKind::Normface,
                HeadKind::Sphereface,
                HeadKind::Cosface,
                HeadKind::Arcface,
            ],
            size: 960,
            margins: Default::default(),
        }
    }
}

/// `[render]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// Render the pictures after training (`--no-render` turns it off for one run).
    pub enabled: bool,
    /// Height of each frame, pixels: its side, or half its width when it holds the sphere's map
    /// (see `projection`).
    pub size: u32,
    /// GIF frame time, milliseconds.
    pub frame_ms: u32,
    /// How long the GIF holds its last frame, milliseconds.
    pub last_frame_ms: u32,
    /// Draw the decision boundaries between neighbouring centres and the head's margin band
    /// around them (frames of the normalised heads).
    pub geometry: bool,
    /// How frames of 3-D (and N-D) runs show the sphere: `"globe"` (one side, from a fixed
    /// camera), `"map"` (Hammer's equal-area map of the whole sphere) or `"both"` side by side;
    /// with the map, frames are `2 * size` wide.
    #[serde(deserialize_with = "projection_key")]
    pub projection: viz::Projection,
}

/// `render.projection`, by name; another name is refused with the names allowed and the key,
/// which [`read_error`] places at its line (or at its `--set`).
fn projection_key<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<viz::Projection, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|expected: String| {
        serde::de::Error::custom(format!("key `render.projection` = {name:?}: {expected}"))
    })
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            size: 640,
            frame_ms: 125,
            last_frame_ms: 3000,
            geometry: true,
            projection: viz::Projection::default(),
        }
    }
}

fn default_out_dir() -> PathBuf {
    PathBuf::from("runs")
}

fn default_seed() -> u64 {
    58
}

impl RunConfig {
    /// Reads `path`, applies `overrides` (`key.path=value`, the value in TOML syntax or a bare
    /// string), and checks the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text, path, overrides)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path, overrides: &[String]) -> Result<Self> {
        // Deserialise the file alone first, so that its errors carry line numbers.
        if let Err(err) = toml::from_str::<RunConfig>(text) {
            let context = format!("invalid config file {}", origin.display());
            return Err(read_error(err, context, text, origin, &[]));
        }
        let mut table: toml::Table = toml::from_str(text)
            .with_context(|| format!("invalid config file {}", origin.display()))?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let set: Vec<&str> = overrides
            .iter()
            .filter_map(|item| Some(item.split_once('=')?.0.trim()))
            .collect();
        if set.contains(&"model.head") {
            // `--set model.head=..` switches the file's head: the file's keys the new head
            // has apply to it, the others were written for the file's head and are dropped.
            model::drop_keys_of_other_heads(&mut table, &set);
        }
        let config: RunConfig = match toml::Value::Table(table).try_into() {
            Ok(config) => config,
            Err(err) => {
                let context = format!(
                    "config {} with --set {:?} is invalid",
                    origin.display(),
                    overrides
                );
                return Err(read_error(err, context, text, origin, overrides));
            }
        };
        if let Err(err) = config.validate() {
            return Err(locate(err, text, origin, overrides));
        }
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            bail!(
                "key `name` = {:?}: expected a non-empty folder name without slashes",
                self.name
            );
        }
        if self.model.embedding_dim == 0 {
            bail!(
                "key `model.embedding_dim` = 0: expected an embedding size of at least 1 (2 draws a circle, 3 a sphere)"
            );
        }
        self.train.validate()?;
        self.render.validate()?;
        validate_data(&self.data)?;
        if !(0.0..1.0).contains(&self.model.dropout) {
            bail!(
                "key `model.dropout` = {}: expected a probability in [0, 1)",
                self.model.dropout
            );
        }
        let [_, height, width] = self.data.input_shape();
        let least = self.model.backbone.least_side();
        if height.min(width) < least {
            bail!(
                "key `model.backbone` = \"{}\": expected images of at least {least}x{least}, and [data] gives {height}x{width} (a larger data.image_size, or backbone = \"vgg8\")",
                self.model.backbone
            );
        }
        check_head(self, "model.margin")?;
        if let Some(compare) = &self.compare {
            if compare.heads.is_empty() {
                bail!("key `compare.heads` = []: expected at least one head");
            }
            check_grid(compare.size, compare.heads.len())?;
            let mut heads: Vec<HeadKind> = compare.heads.clone();
            heads.extend(compare.margins.keys().copied());
            for head in heads {
                let config = self.with_head(head);
                let key = if let Some(margin) = compare.margins.get(&head) {
                    if config.model.head.margin().is_none() {
                        bail!(
                            "key `compare.margins.{head}` = {margin}: the {head} head has no margin"
                        );
                    }
                    format!("compare.margins.{head}")
                } else {
                    "model.margin".to_string()
                };
                check_head(&config, &key)?;
                // Sub-center ArcFace holds more weights than the config's own head.
                memory::check_fits(&config.footprint(), memory::machine_memory())?;
            }
        }
        memory::check_fits(&self.footprint(), memory::machine_memory())?;
        Ok(())
    }

    /// The shapes behind the largest tensors a training step of this config holds, from what
    /// the config alone says: the input images of `[data]`, and as classes the synthetic
    /// identities, MNIST's 10 digits, or CelebA/folder's `top_k` / `ids` (2, the least a head
    /// takes, when neither is given: the real count is known only once the data is read).
    pub fn footprint(&self) -> memory::Footprint {
        let (classes_key, classes) = match &self.data {
            DataConfig::Synthetic(c) => (
                Some(format!("data.identities = {}", c.identities)),
                c.identities,
            ),
            DataConfig::Mnist(_) => (None, 10),
            DataConfig::Celeba(c) => selection(c.top_k, c.ids.as_ref().map(Vec::len)),
            DataConfig::Folder(c) => selection(c.top_k, c.ids.as_ref().map(Vec::len)),
        };
        let [channels, side, _] = self.data.input_shape();
        let per_class = self.model.head.per_class();
        let input_key = match &self.data {
            DataConfig::Mnist(_) => "MNIST's 1x28x28 digits".to_string(),
            _ => format!("data.image_size = {side}"),
        };
        let (first_channels, features) = memory::backbone_sizes(
            self.model.backbone,
            self.model.base_width,
            self.data.input_shape(),
        );
        memory::Footprint {
            first_channels,
            features,
            classes: classes as u128,
            per_class: per_class as u128,
            dim: self.model.embedding_dim as u128,
            batch: self.train.batch_size as u128,
            eval_batch: memory::EVAL_BATCH as u128,
            input: [channels as u128, side as u128, side as u128],
            copies: 4,
            names: memory::Names {
                dim: format!("model.embedding_dim = {}", self.model.embedding_dim),
                classes: classes_key,
                batch: format!("train.batch_size = {}", self.train.batch_size),
                input: input_key,
            },
        }
    }

    /// The network for `classes` classes on images of `shape` = `[channels, height, width]`.
    pub fn network(&self, classes: usize, shape: [usize; 3]) -> EmbeddingNetConfig {
        let m = &self.model;
        let [channels, height, width] = shape;
        let resnet = |kind| {
            ResNetConfig::new(kind, channels, height, width, m.embedding_dim)
                .with_base_width(m.base_width.unwrap_or(DEFAULT_BASE_WIDTH))
                .with_dropout(m.dropout)
                .into()
        };
        let backbone: BackboneConfig = match m.backbone {
            BackboneKind::Vgg8 => Vgg8Config::new(channels, height, width, m.embedding_dim)
                .with_dropout(m.dropout)
                .into(),
            BackboneKind::Resnet18 => resnet(ResNetKind::ResNet18),
            BackboneKind::Iresnet18 => resnet(ResNetKind::IResNet18),
        };
        let head = m.head.head_config(m.embedding_dim, classes);
        EmbeddingNetConfig::new(backbone, head)
    }

    /// This config with `head` in place of its own head, for `compare`: the margin is
    /// `compare.margins[head]`, else `model.margin` when `head` is the config's head, else the
    /// head's default.
    pub fn with_head(&self, head: HeadKind) -> Self {
        let mut config = self.clone();
        let listed = self
            .compare
            .as_ref()
            .and_then(|c| c.margins.get(&head).copied());
        config.model.head = self.model.head.for_kind(head, listed);
        config.name = head.to_string();
        config.out_dir = self.run_dir();
        config.compare = None;
        config
    }

    /// What the frames draw beside the dots: bisectors and margin bands for the normalised
    /// heads when `render.geometry` is on; nothing for softmax, whose boundaries are not
    /// bisectors.
    pub fn geometry(&self) -> viz::Geometry {
        match self.model.head.band() {
            Some(band) if self.render.geometry => viz::Geometry {
                boundaries: true,
                band,
            },
            _ => viz::Geometry::default(),
        }
    }

    /// `<out_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.out_dir.join(&self.name)
    }

    /// The resolved config as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).context("cannot serialise the resolved config")
    }
}

/// [`locate`] for a check made after the config was read (one that reads other files, such as
/// `train.init_from`'s run): the error is placed at its key's line in the file at `origin`, or
/// at the `--set` that set it.
pub fn locate_in_file(err: anyhow::Error, origin: &Path, overrides: &[String]) -> anyhow::Error {
    let text = std::fs::read_to_string(origin).unwrap_or_default();
    locate(err, &text, origin, overrides)
}

/// Prefixes a validation error with where its key was set: `--set KEY=...` when an override
/// set it, else the file and the key's line (`demo.toml line 36: key `render.size` = ...`).
fn locate(err: anyhow::Error, text: &str, origin: &Path, overrides: &[String]) -> anyhow::Error {
    let message = format!("{err:#}");
    // The key is the message's first word or its first `quoted` word ("key `render.size` = ..").
    let key = message
        .strip_prefix("key `")
        .and_then(|rest| rest.split('`').next())
        .or_else(|| message.split(" = ").next())
        .unwrap_or_default()
        .to_string();
    if let Some(item) = overrides
        .iter()
        .rev()
        .find(|item| item.split_once('=').is_some_and(|(k, _)| k.trim() == key))
    {
        return anyhow::anyhow!("--set {item}: {err:#}");
    }
    match key_line(text, &key) {
        Some(line) => anyhow::anyhow!("{} line {line}: {err:#}", origin.display()),
        None => anyhow::anyhow!("{}: {err:#}", origin.display()),
    }
}

/// The 1-based line that sets the dotted `key` in TOML `text` (`render.size`: `size = ..`
/// under `[render]`), if one does.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            continue;
        }
        let Some((left, _)) = line.split_once('=') else {
            continue;
        };
        let left = left.trim().trim_matches('"');
        let full = if current.is_empty() {
            left.to_string()
        } else {
            format!("{current}.{left}")
        };
        if full == key || (current == table && left == name) {
            return Some(index + 1);
        }
    }
    None
}

/// Frame sides `render.size` (and each tile of `compare.size`) may take, pixels: viz draws
/// from 64, and GIF sides are 16-bit (viz caps them at 8192).
pub const FRAME_SIZES: std::ops::RangeInclusive<u32> = 64..=8192;

/// GIF frame times, milliseconds: a GIF stores hundredths of a second in 16 bits (viz rounds
/// `ms / 10` to the nearest and would saturate past 65535), and below 10 ms it stores 0, which
/// viewers replace with their own default.
pub const FRAME_MS: std::ops::RangeInclusive<u32> = 10..=655_350;

impl RenderConfig {
    /// Checks every `[render]` key against what the pictures can be drawn with, so that a bad
    /// value stops the run before training rather than after it.
    pub fn validate(&self) -> Result<()> {
        if !FRAME_SIZES.contains(&self.size) {
            bail!(
                "key `render.size` = {}: expected {}..={} pixels (the side of each frame)",
                self.size,
                FRAME_SIZES.start(),
                FRAME_SIZES.end()
            );
        }
        for (key, value) in [
            ("render.frame_ms", self.frame_ms),
            ("render.last_frame_ms", self.last_frame_ms),
        ] {
            if !FRAME_MS.contains(&value) {
                bail!(
                    "key `{key}` = {value}: expected {}..={} milliseconds (a GIF stores frame times as 16-bit hundredths of a second)",
                    FRAME_MS.start(),
                    FRAME_MS.end()
                );
            }
        }
        Ok(())
    }
}

/// `compare.size` for `heads` heads: the grid is ceil(sqrt(heads + 1)) tiles wide (the heads
/// and the curves), each tile at least `FRAME_SIZES.start()` pixels, the grid at most
/// `FRAME_SIZES.end()`. (`compare --heads` changes the count: call this with it before training.)
pub fn check_grid(size: u32, heads: usize) -> Result<()> {
    let cells = heads.saturating_add(1);
    let columns = cells.isqrt() + usize::from(cells.isqrt().pow(2) < cells);
    let smallest = FRAME_SIZES
        .start()
        .saturating_mul(u32::try_from(columns).unwrap_or(u32::MAX));
    if !(smallest..=*FRAME_SIZES.end()).contains(&size) {
        bail!(
            "key `compare.size` = {size}: expected {smallest}..={} pixels ({heads} heads and the curves make a grid {columns} tiles wide, each tile at least {} pixels)",
            FRAME_SIZES.end(),
            FRAME_SIZES.start()
        );
    }
    Ok(())
}

/// `[data]`'s own checks, run when the config is read (not when the data is loaded, after a
/// synthetic set may have been generated), with the key named in full.
fn validate_data(data: &DataConfig) -> Result<()> {
    match data.validate() {
        Ok(()) => Ok(()),
        Err(celeba_data::DataError::Config { field, problem }) => {
            bail!("key `data.{field}` {problem}")
        }
        Err(other) => Err(anyhow::Error::new(other).context("invalid [data] config")),
    }
}

/// The classes a CelebA or folder selection names: `top_k`, the `ids` listed, or (neither) the
/// least any head takes.
fn selection(top_k: Option<usize>, ids: Option<usize>) -> (Option<String>, usize) {
    match (top_k, ids) {
        (Some(k), _) => (Some(format!("data.top_k = {k}")), k),
        (None, Some(n)) => (Some(format!("data.ids ({n} listed)")), n),
        (None, None) => (None, 2),
    }
}

/// The head's hyper-parameters, checked by arcface-core's own `validate` (the ranges its
/// `init` accepts) when the config is read; `margin_key` names where the margin came from.
fn check_head(config: &RunConfig, margin_key: &str) -> Result<()> {
    // The head's ranges do not depend on the class count or the input: any valid pair will do.
    match config.network(2, [1, 32, 32]).head.validate() {
        Ok(()) => Ok(()),
        Err(arcface_core::CoreError::OutOfRange {
            key,
            value,
            expected,
        }) => {
            let full = if key == "margin" {
                margin_key.to_string()
            } else {
                format!("model.{key}")
            };
            bail!(
                "key `{full}` = {value}: expected {expected} (the {} head's {key})",
                config.model.head.kind()
            )
        }
        Err(other) => Err(anyhow::Error::new(other).context("invalid [model]")),
    }
}

/// A deserialisation error. One that names its key (`key `model.m1`: ..`, raised once serde has
/// read the whole table, so toml can only point at the table) is placed at the key's line or
/// `--set` as a validation error is.
fn read_error(
    err: toml::de::Error,
    context: String,
    text: &str,
    origin: &Path,
    overrides: &[String],
) -> anyhow::Error {
    if err.message().starts_with("key `") {
        let message = anyhow::anyhow!("{}", err.message());
        return locate(message, text, origin, overrides);
    }
    anyhow::Error::new(err).context(context)
}

/// Sets `a.b.c = value` in `table`; the value is read as TOML (`0.3`, `true`, `"x"`, `[1, 2]`),
/// or taken as a plain string when it is not valid TOML (`--set data.root=/tmp/faces`).
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let Some((key, raw)) = item.split_once('=') else {
        bail!("--set {item:?}: expected key=value, e.g. --set model.margin=0.3");
    };
    let key = key.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {item:?}: the key {key:?} has an empty part");
    }
    let (last, parents) = parts.split_last().context("empty --set key")?;
    let mut node = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = match entry {
            toml::Value::Table(t) => t,
            _ => bail!(
                "--set {item:?}: `{}` is not a table",
                parts[..=depth].join(".")
            ),
        };
    }
    node.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"t\"\n[data]\nkind = \"mnist\"\nroot = \"/nowhere\"\n";

    #[test]
    fn defaults_follow_the_seed() {
        let c = RunConfig::parse(MINIMAL, Path::new("t.toml"), &[]).unwrap();
        assert_eq!(c.seed, 58);
        let head = &c.model.head;
        assert_eq!((head.scale(), head.margin()), (Some(15.0), Some(0.5)));
        assert_eq!((c.train.batch_size, c.train.lr), (32, 1e-3));
    }

    /// Every shipped example config is read without error (a renamed key would otherwise reach
    /// users first), and the recipe of `celeba-2d.toml` is the one README's table chose.
    #[test]
    fn every_config_in_configs_reads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                read += 1;
            }
        }
        assert!(read >= 8, "{read} configs in {}", dir.display());
        let c = RunConfig::load(&dir.join("celeba-2d.toml"), &[]).unwrap();
        assert_eq!(c.model.embedding_dim, 2);
        assert_eq!(c.model.backbone, BackboneKind::Iresnet18);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = format!("{MINIMAL}[model]\nembedding_dim = 3\nmargn = 0.3\n");
        let err = format!(
            "{:#}",
            RunConfig::parse(&text, Path::new("bad.toml"), &[]).unwrap_err()
        );
        assert!(
            err.contains("bad.toml") && err.contains("margn") && err.contains("line 7"),
            "{err}"
        );
    }

    #[test]
    fn overrides_parse_toml_values_and_reject_unknown_keys() {
        let set = |s: &str| vec![s.to_string()];
        let c = RunConfig::parse(MINIMAL, Path::new("t.toml"), &set("model.margin=0.3")).unwrap();
        assert_eq!(c.model.head.margin(), Some(0.3));
        let c = RunConfig::parse(
            MINIMAL,
            Path::new("t.toml"),
            &set("model.head=\"sphereface\""),
        )
        .unwrap();
        assert_eq!(
            c.model.head.margin(),
            Some(4.0),
            "SphereFace's own default margin"
        );
        let c = RunConfig::parse(MINIMAL, Path::new("t.toml"), &set("data.root=/tmp/x y")).unwrap();
        assert!(matches!(c.data, DataConfig::Mnist(ref m) if m.root == Path::new("/tmp/x y")));
        let err = format!(
            "{:#}",
            RunConfig::parse(MINIMAL, Path::new("t.toml"), &set("model.margn=1")).unwrap_err()
        );
        assert!(err.contains("margn"), "{err}");
        let err = format!(
            "{:#}",
            RunConfig::parse(MINIMAL, Path::new("t.toml"), &set("model.embedding_dim=0"))
                .unwrap_err()
        );
        assert!(err.contains("model.embedding_dim"), "{err}");
    }

    /// A synthetic-faces config with `extra` appended (TOML, may open tables).
    fn synthetic(extra: &str) -> String {
        format!(
            "name = \"t\"\n[data]\nkind = \"synthetic\"\nroot = \"/nowhere\"\nidentities = 8\nimage_size = 32\n{extra}"
        )
    }

    fn parse_err(text: &str, overrides: &[&str]) -> String {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        match RunConfig::parse(text, Path::new("t.toml"), &overrides) {
            Ok(_) => panic!("accepted {text:?} with {overrides:?}"),
            Err(err) => format!("{err:#}"),
        }
    }

    #[test]
    fn a_bad_value_is_located_at_its_line_or_its_set() {
        let text = "name = \"t\"\n[data]\nkind = \"synthetic\"\nroot = \"x\"\n\n[render]\n  size = 9\n[compare.margins]\nsphereface = 2.5\n";
        assert_eq!(key_line(text, "render.size"), Some(7));
        assert_eq!(key_line(text, "compare.margins.sphereface"), Some(9));
        assert_eq!(
            key_line(text, "data.size"),
            None,
            "size is under [render], not [data]"
        );
        let err = parse_err(text, &[]);
        assert!(
            err.starts_with("t.toml line 7: key `render.size` = 9: expected 64..=8192"),
            "{err}"
        );
        // Set on the command line, the last --set of the key is named instead of the file.
        let err = parse_err(text, &["render.size=100", "render.size=50000"]);
        assert!(
            err.starts_with("--set render.size=50000: key `render.size` = 50000"),
            "{err}"
        );
    }

    #[test]
    fn every_example_config_still_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 7, "found only {seen} configs in {}", dir.display());
    }

    #[test]
    fn render_keys_are_checked_when_the_config_is_read() {
        let cases = [
            (
                "[render]\nsize = 100000\n",
                "key `render.size` = 100000: expected 64..=8192 pixels",
            ),
            (
                "[render]\nsize = 63\n",
                "key `render.size` = 63: expected 64..=8192 pixels",
            ),
            (
                "[render]\nframe_ms = 0\n",
                "key `render.frame_ms` = 0: expected 10..=655350 milliseconds",
            ),
            (
                "[render]\nframe_ms = 655351\n",
                "key `render.frame_ms` = 655351: expected 10..=655350",
            ),
            (
                "[render]\nlast_frame_ms = 4000000000\n",
                "key `render.last_frame_ms` = 4000000000: expected 10..=655350",
            ),
        ];
        for (extra, want) in cases {
            let err = parse_err(&synthetic(extra), &[]);
            assert!(err.contains(want), "{extra:?}: {err}");
            // The key's line: after the 6 lines of `synthetic`, `[render]` is line 7.
            assert!(err.starts_with("t.toml line 8: key `render."), "{err}");
        }
        // The ends of each range are accepted, also with rendering switched off.
        for extra in [
            "[render]\nsize = 64\nframe_ms = 10\nlast_frame_ms = 655350\n",
            "[render]\nenabled = false\nsize = 8192\nframe_ms = 655350\nlast_frame_ms = 10\n",
        ] {
            RunConfig::parse(&synthetic(extra), Path::new("t.toml"), &[]).unwrap();
        }
    }

    #[test]
    fn render_projection_is_one_of_its_names() {
        let c = RunConfig::parse(&synthetic(""), Path::new("t.toml"), &[]).unwrap();
        assert_eq!(c.render.projection, viz::Projection::Both, "the default");
        for name in viz::Projection::NAMES {
            let c = RunConfig::parse(
                &synthetic(&format!("[render]\nprojection = \"{name}\"\n")),
                Path::new("t.toml"),
                &[],
            )
            .unwrap();
            assert_eq!(c.render.projection.name(), name);
            // Written back as it was read.
            let resolved = c.to_toml().unwrap();
            assert!(
                resolved.contains(&format!("projection = \"{name}\"")),
                "{resolved}"
            );
        }
        let allowed = "expected one of \"globe\", \"map\", \"both\"";
        // In the file: at its line (`[render]` is line 7 after the 6 lines of `synthetic`).
        let err = parse_err(
            &synthetic("[render]\nsize = 320\nprojection = \"mollweide\"\n"),
            &[],
        );
        assert!(
            err.starts_with(&format!(
                "t.toml line 9: key `render.projection` = \"mollweide\": {allowed}"
            )),
            "{err}"
        );
        // Through --set: at the --set.
        let err = parse_err(&synthetic(""), &["render.projection=sphere"]);
        assert!(
            err.starts_with(&format!(
                "--set render.projection=sphere: key `render.projection` = \"sphere\": {allowed}"
            )),
            "{err}"
        );
        // Not a string at all: toml says so, at the line.
        let err = parse_err(&synthetic("[render]\nprojection = 2\n"), &[]);
        assert!(err.contains("line 8") && err.contains("string"), "{err}");
        let c = RunConfig::parse(
            &synthetic(""),
            Path::new("t.toml"),
            &["render.projection=map".into()],
        )
        .unwrap();
        assert_eq!(c.render.projection, viz::Projection::Map);
    }

    #[test]
    fn compare_size_must_fit_the_grid_of_its_heads() {
        // 5 heads + the curves = 6 cells, 3 columns: at least 3 x 64 = 192 pixels.
        let five = "[compare]\nheads = [\"softmax\", \"normface\", \"sphereface\", \"cosface\", \"arcface\"]\n";
        let err = parse_err(&synthetic(&format!("{five}size = 191\n")), &[]);
        assert!(
            err.contains("key `compare.size` = 191: expected 192..=8192 pixels"),
            "{err}"
        );
        RunConfig::parse(
            &synthetic(&format!("{five}size = 192\n")),
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        let err = parse_err(&synthetic(&format!("{five}size = 8193\n")), &[]);
        assert!(err.contains("expected 192..=8192"), "{err}");
        // One head + the curves: 2 columns, 128 pixels (the limit before this check existed).
        let err = parse_err(
            &synthetic("[compare]\nheads = [\"arcface\"]\nsize = 127\n"),
            &[],
        );
        assert!(err.contains("expected 128..=8192"), "{err}");
    }

    #[test]
    fn head_and_data_keys_are_named_in_full() {
        let cases: [(&str, &[&str], &str); 7] = [
            (
                "[model]\nmargin = 4.0\n",
                &[],
                "key `model.margin` = 4: expected an angle in radians in [0, pi)",
            ),
            (
                "[model]\nhead = \"sphereface\"\nmargin = 1.5\n",
                &[],
                "key `model.margin` = 1.5: expected a whole number >= 1",
            ),
            (
                "[model]\ndropout = 1.0\n",
                &[],
                "key `model.dropout` = 1: expected a probability in [0, 1)",
            ),
            (
                "[model]\nhead = \"combined\"\nm1 = 0.0\n",
                &[],
                "key `model.m1` = 0: expected a finite number > 0",
            ),
            (
                "[compare]\nheads = [\"arcface\", \"sphereface\"]\n[compare.margins]\nsphereface = 2.5\n",
                &[],
                "key `compare.margins.sphereface` = 2.5: expected a whole number >= 1",
            ),
            (
                "",
                &["data.image_size=5000"],
                "key `data.image_size` = 5000 is outside 8..=1024",
            ),
            (
                "",
                &["train.num_workers=100000"],
                "key `train.num_workers` = 100000: expected 0..=1024",
            ),
        ];
        for (extra, overrides, want) in cases {
            let err = parse_err(&synthetic(extra), overrides);
            assert!(err.contains(want), "{extra:?} {overrides:?}: {err}");
        }
    }

    #[test]
    fn a_key_of_another_head_is_refused_at_its_line() {
        let text = synthetic("[model]\nhead = \"arcface\"\nscale = 10.0\nm1 = 2.0\n");
        let err = parse_err(&text, &[]);
        assert_eq!(
            err,
            "t.toml line 10: key `model.m1`: [model] head = \"arcface\" has no key `m1` (it belongs to combined)"
        );
        let err = parse_err(&synthetic(""), &["model.head=\"softmax\"", "model.scale=3"]);
        assert!(
            err.starts_with("--set model.scale=3: key `model.scale`: [model] head = \"softmax\" has no key `scale` (it belongs to arcface, normface, cosface, sphereface, combined, subcenter)"),
            "{err}"
        );
        let err = parse_err(
            &synthetic("[model]\nhead = \"cosface\"\nsub_centers = 2\n"),
            &[],
        );
        assert!(err.contains("(it belongs to subcenter)"), "{err}");
    }

    #[test]
    fn train_defaults_are_adam_at_a_constant_rate() {
        let c = RunConfig::parse(&synthetic(""), Path::new("t.toml"), &[]).unwrap();
        assert_eq!(
            c.train.optimizer,
            OptimizerSettings::Adam { weight_decay: 0.0 }
        );
        assert_eq!(c.train.schedule, ScheduleSettings::Constant);
        assert_eq!(
            (c.train.warmup_epochs, c.train.freeze_backbone_epochs),
            (0, 0)
        );
        assert_eq!((c.train.clip_grad_norm, c.train.init_from), (None, None));
        let c = RunConfig::parse(
            &synthetic("[train]\noptimizer = \"sgd\"\nschedule = \"poly\"\n"),
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.train.optimizer,
            OptimizerSettings::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0
            }
        );
        assert_eq!(
            c.train.schedule,
            ScheduleSettings::Poly {
                power: 2.0,
                min_lr: 0.0
            }
        );
        let c = RunConfig::parse(
            &synthetic("[train]\noptimizer = \"adamw\"\nschedule = \"step\"\n"),
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.train.optimizer,
            OptimizerSettings::Adamw { weight_decay: 1e-4 }
        );
        assert_eq!(
            c.train.schedule,
            ScheduleSettings::Step {
                step_epochs: 10,
                gamma: 0.1
            }
        );
    }

    #[test]
    fn train_keys_are_checked_by_name() {
        let cases: [(&str, &[&str], &str); 13] = [
            (
                "[train]\noptimizer = \"rmsprop\"\n",
                &[],
                "unknown variant `rmsprop`, expected one of `adam`, `adamw`, `sgd`",
            ),
            (
                "[train]\nschedule = \"linear\"\n",
                &[],
                "unknown variant `linear`, expected one of `constant`, `step`, `cosine`, `poly`",
            ),
            (
                "[train]\nepochs = 5\nschedule = \"cosine\"\nwarmup_epochs = 5\n",
                &[],
                "t.toml line 10: key `train.warmup_epochs` = 5: expected fewer warm-up epochs than train.epochs = 5",
            ),
            (
                "[train]\nlr = 0.0\n",
                &[],
                "t.toml line 8: key `train.lr` = 0: expected a positive learning rate",
            ),
            (
                "",
                &["train.lr=-0.1"],
                "--set train.lr=-0.1: key `train.lr` = -0.1: expected a positive learning rate",
            ),
            (
                "[train]\nschedule = \"step\"\ngamma = 1.5\n",
                &[],
                "t.toml line 9: key `train.gamma` = 1.5: expected a factor in (0, 1]",
            ),
            (
                "[train]\nschedule = \"step\"\ngamma = 0.0\n",
                &[],
                "key `train.gamma` = 0: expected a factor in (0, 1]",
            ),
            (
                "[train]\nschedule = \"step\"\nstep_epochs = 0\n",
                &[],
                "key `train.step_epochs` = 0: expected at least 1 epoch",
            ),
            (
                "[train]\nlr = 0.1\nschedule = \"cosine\"\nmin_lr = 0.2\n",
                &[],
                "t.toml line 10: key `train.min_lr` = 0.2: expected 0 <= min_lr <= train.lr = 0.1",
            ),
            (
                "[train]\noptimizer = \"sgd\"\nmomentum = 1.0\n",
                &[],
                "key `train.momentum` = 1: expected a number in [0, 1)",
            ),
            (
                "[train]\nweight_decay = -1e-4\n",
                &[],
                "key `train.weight_decay` = -0.0001: expected a finite number >= 0",
            ),
            (
                "[train]\nclip_grad_norm = 0.0\n",
                &[],
                "key `train.clip_grad_norm` = 0: expected a positive L2 norm",
            ),
            (
                "[train]\nepochs = 3\nfreeze_backbone_epochs = 4\n",
                &[],
                "key `train.freeze_backbone_epochs` = 4: expected at most train.epochs = 3",
            ),
        ];
        for (extra, overrides, want) in cases {
            let err = parse_err(&synthetic(extra), overrides);
            assert!(err.contains(want), "{extra:?} {overrides:?}: {err}");
        }
    }

    #[test]
    fn a_key_of_another_optimizer_or_schedule_is_refused_at_its_line() {
        let err = parse_err(&synthetic("[train]\nlr = 0.1\nmomentum = 0.9\n"), &[]);
        assert_eq!(
            err,
            "t.toml line 9: key `train.momentum`: [train] optimizer = \"adam\" has no key `momentum` (it belongs to sgd)"
        );
        let err = parse_err(
            &synthetic("[train]\nschedule = \"cosine\"\ngamma = 0.5\n"),
            &[],
        );
        assert_eq!(
            err,
            "t.toml line 9: key `train.gamma`: [train] schedule = \"cosine\" has no key `gamma` (it belongs to step)"
        );
        let err = parse_err(&synthetic(""), &["train.min_lr=0.001"]);
        assert!(
            err.starts_with("--set train.min_lr=0.001: key `train.min_lr`: [train] schedule = \"constant\" has no key `min_lr` (it belongs to cosine, poly)"),
            "{err}"
        );
    }

    #[test]
    fn the_resolved_train_keys_read_back_as_the_same_config() {
        let text = synthetic(
            "[train]\nlr = 0.1\noptimizer = \"sgd\"\nnesterov = true\nweight_decay = 5e-4\nschedule = \"cosine\"\nmin_lr = 1e-5\nwarmup_epochs = 2\nclip_grad_norm = 5.0\ninit_from = \"runs/base\"\nfreeze_backbone_epochs = 1\n",
        );
        let c = RunConfig::parse(&text, Path::new("t.toml"), &[]).unwrap();
        let resolved = c.to_toml().unwrap();
        let again = RunConfig::parse(&resolved, Path::new("config.toml"), &[]).unwrap();
        assert_eq!(again.train.optimizer, c.train.optimizer);
        assert_eq!(again.train.schedule, c.train.schedule);
        assert_eq!(again.train.clip_grad_norm, Some(5.0));
        assert_eq!(again.train.init_from, Some(PathBuf::from("runs/base")));
        assert_eq!(
            (
                again.train.warmup_epochs,
                again.train.freeze_backbone_epochs
            ),
            (2, 1)
        );
        // Only the optimizer's and the schedule's own keys are written.
        let table: toml::Table = toml::from_str(&resolved).unwrap();
        let mut keys: Vec<&String> = table["train"].as_table().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "batch_size",
                "clip_grad_norm",
                "epochs",
                "freeze_backbone_epochs",
                "init_from",
                "lr",
                "min_lr",
                "momentum",
                "nesterov",
                "num_workers",
                "optimizer",
                "schedule",
                "warmup_epochs",
                "weight_decay"
            ]
        );
    }

    #[test]
    fn the_resolved_config_lists_only_the_heads_own_keys() {
        let model = |extra: &str| {
            let c = RunConfig::parse(&synthetic(extra), Path::new("t.toml"), &[]).unwrap();
            let text = c.to_toml().unwrap();
            let table: toml::Table = toml::from_str(&text).unwrap();
            let mut keys: Vec<String> =
                table["model"].as_table().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        let all = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            model(""),
            all(&[
                "backbone",
                "dropout",
                "easy_margin",
                "embedding_dim",
                "head",
                "margin",
                "scale",
                "theta_overflow"
            ])
        );
        assert_eq!(
            model("[model]\nhead = \"softmax\"\n"),
            all(&["backbone", "dropout", "embedding_dim", "head"])
        );
        assert_eq!(
            model("[model]\nhead = \"combined\"\n"),
            all(&[
                "backbone",
                "dropout",
                "embedding_dim",
                "head",
                "m1",
                "m2",
                "m3",
                "scale"
            ])
        );
        // Read back, the resolved file is the same config.
        let c = RunConfig::parse(
            &synthetic("[model]\nhead = \"subcenter\"\nsub_centers = 2\n"),
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        let again = RunConfig::parse(&c.to_toml().unwrap(), Path::new("config.toml"), &[]).unwrap();
        assert_eq!(again.model.head, c.model.head);
    }

    #[test]
    fn a_config_toml_resolved_by_earlier_versions_still_loads() {
        // Earlier versions wrote every [model] key into each run's config.toml.
        let old = "[model]\nembedding_dim = 2\nhead = \"cosface\"\nscale = 10.0\nmargin = 0.2\nm1 = 1.0\nm2 = 0.3\nm3 = 0.2\nsub_centers = 3\neasy_margin = false\ntheta_overflow = \"insightface\"\ndropout = 0.5\n";
        let c = RunConfig::parse(&synthetic(old), Path::new("config.toml"), &[]).unwrap();
        assert_eq!(
            c.model.head,
            model::HeadSettings::Cosface {
                scale: 10.0,
                margin: 0.2
            }
        );
    }

    #[test]
    fn footprint_of_a_small_config_by_hand() {
        let config = RunConfig::parse(
            &synthetic("[model]\nembedding_dim = 2\n[train]\nbatch_size = 32\n"),
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        let f = config.footprint();
        // 32x32 RGB: 32 / 8 = 4 pixels a side after three max-pools, 64 channels: 1024 features.
        assert_eq!(f.flattened(), 1024);
        // (8 classes + 1024 features) x 2 dims = 2064 weights, x 4 copies x 4 bytes.
        assert_eq!(f.parameter_bytes(), 33_024);
        // Validation and snapshots run 256 images at a time, more than the 32 of a step:
        // 256 images x (3 + 16) channels x 32 x 32 pixels x 4 bytes.
        assert_eq!(f.activation_bytes(), 19_922_944);
        assert_eq!(f.total_bytes(), 19_955_968);
        // A training batch above 256 is the larger one: 512 x 19 x 32 x 32 x 4 bytes.
        let mut large = f.clone();
        large.batch = 512;
        assert_eq!(large.activation_bytes(), 39_845_888);
        // Sub-center ArcFace: 3 weight vectors per class.
        let sub = RunConfig::parse(
            &synthetic("[model]\nhead = \"subcenter\"\nsub_centers = 3\n"),
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        assert_eq!(sub.footprint().parameter_bytes(), (8 * 3 + 1024) * 2 * 16);
        // MNIST: 10 classes of 1x28x28 digits, 64 x 3 x 3 = 576 features.
        let mnist = RunConfig::parse(MINIMAL, Path::new("t.toml"), &[])
            .unwrap()
            .footprint();
        assert_eq!((mnist.flattened(), mnist.classes), (576, 10));
        assert_eq!(mnist.activation_bytes(), 256 * 17 * 28 * 28 * 4);
    }

    /// The shapes the footprint assumes are each backbone's: adding one embedding dimension adds
    /// exactly `flattened` weights to the embedding layer, one bias, two batch-norm parameters
    /// and one weight per class column to the head.
    #[cfg(feature = "flex")]
    #[test]
    fn footprint_shapes_match_the_network_built() {
        use burn::module::Module;
        let device = burn::tensor::Device::flex();
        for (input, head, backbone) in [
            ([1, 28, 28], "arcface", ""),
            ([3, 20, 36], "softmax", ""),
            ([3, 64, 64], "subcenter", ""),
            (
                [3, 32, 48],
                "arcface",
                "backbone = \"resnet18\"\nbase_width = 4\n",
            ),
            (
                [1, 40, 64],
                "softmax",
                "backbone = \"iresnet18\"\nbase_width = 4\n",
            ),
        ] {
            let config = RunConfig::parse(
                &synthetic(&format!("[model]\nhead = \"{head}\"\n{backbone}")),
                Path::new("t.toml"),
                &[],
            )
            .unwrap();
            let params = |dim: usize| {
                let mut c = config.clone();
                c.model.embedding_dim = dim;
                c.network(5, input).init(&device).unwrap().num_params()
            };
            let mut f = config.footprint();
            f.classes = 5;
            f.input = input.map(|v| v as u128);
            (f.first_channels, f.features) =
                memory::backbone_sizes(config.model.backbone, config.model.base_width, input);
            // Burn counts batch norm's running mean and variance with its two parameters; the
            // softmax head's bias is per class, so it does not grow with the dimension.
            let per_dim = params(3) - params(2);
            assert_eq!(
                per_dim as u128,
                f.flattened() + f.classes * f.per_class + 1 + 4,
                "{input:?} {head} {backbone}"
            );
        }
    }

    #[test]
    fn too_large_a_model_is_refused_with_its_key_and_bytes() {
        let config = RunConfig::parse(MINIMAL, Path::new("t.toml"), &[]).unwrap();
        let mut f = config.footprint();
        f.dim = 100_000_000;
        f.names.dim = "model.embedding_dim = 100000000".into();
        let gb24 = 24_000_000_000;
        let err = memory::check_fits(&f, Some(gb24)).unwrap_err().to_string();
        // (10 + 576) x 1e8 x 16 bytes = 937.6 GB; 256 x 17 x 28 x 28 x 4 = 13.6 MB more.
        assert_eq!(
            err,
            "model.embedding_dim = 100000000: training would need at least 937.6 GB, more than \
             this machine's 24.0 GB of memory (MemTotal in /proc/meminfo): the head and the \
             embedding layer 937.6 GB (100000000 x (10 classes + 576 flattened features) x 16 \
             bytes: weights, gradient and Adam's two moments, f32); a batch of input images and \
             the first conv layer's output 13.6 MB (256 images (the validation and snapshot \
             batch) x (1 + 16) channels x 28 x 28 pixels x 4 bytes)"
        );
        // Exactly the memory fits; a byte more does not; unknown memory refuses nothing.
        let exact = f.total_bytes();
        memory::check_fits(&f, Some(exact)).unwrap();
        assert!(memory::check_fits(&f, Some(exact - 1)).is_err());
        memory::check_fits(&f, None).unwrap();
        // Large images with a small training batch: the validation batch is what does not fit.
        let images = RunConfig::parse(
            &synthetic("[train]\nbatch_size = 8\n"),
            Path::new("t.toml"),
            &["data.image_size=1024".to_string()],
        )
        .unwrap();
        let err = memory::check_fits(&images.footprint(), Some(1_000_000_000))
            .unwrap_err()
            .to_string();
        // 256 x (3 + 16) x 1024 x 1024 x 4 bytes = 20,401,094,656, plus
        // (8 + 64 x 128 x 128) x 2 x 16 = 33,554,688 of weights.
        assert!(
            err.starts_with(
                "data.image_size = 1024 with validation batches of 256 images: training would \
                 need at least 20.4 GB, more than this machine's 1.0 GB of memory"
            ),
            "{err}"
        );
        assert_eq!(images.footprint().total_bytes(), 20_434_649_344);
        // Activations larger than the parameters: the batch and image size are named.
        let mut big = config.footprint();
        big.batch = 1_000_000_000;
        big.names.batch = "train.batch_size = 1000000000".into();
        let err = memory::check_fits(&big, Some(gb24))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("train.batch_size = 1000000000 with MNIST's 1x28x28 digits: training would need at least 53.3 TB"),
            "{err}"
        );
    }

    #[test]
    fn mem_total_and_byte_counts_read_and_print() {
        let meminfo = "MemFree:  100 kB\nMemTotal:       16314368 kB\nSwapTotal: 0 kB\n";
        assert_eq!(memory::parse_mem_total(meminfo), Some(16_314_368 * 1024));
        assert_eq!(memory::parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(memory::parse_mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(memory::format_bytes(999), "999 B");
        assert_eq!(memory::format_bytes(1_000), "1.0 kB");
        assert_eq!(memory::format_bytes(1_649_600_000_000), "1.6 TB");
        assert_eq!(memory::format_bytes(u128::MAX), "340282366920938.5 YB");
    }

    #[test]
    fn an_embedding_too_large_for_any_machine_is_refused_when_read() {
        // 1e8 x (8 + 1024) x 16 bytes = 1.65 TB: more than a machine this test runs on has.
        let err = parse_err(&synthetic(""), &["model.embedding_dim=100000000"]);
        assert!(
            err.starts_with(
                "--set model.embedding_dim=100000000: model.embedding_dim = 100000000: training would need at least 1.7 TB"
            ),
            "{err}"
        );
    }

    mod set_properties {
        use super::*;
        use proptest::prelude::*;

        /// Every key of the schema at `[model]`, `[train]` and `[render]`.
        const MODEL_KEYS: [&str; 11] = [
            "embedding_dim",
            "head",
            "scale",
            "margin",
            "m1",
            "m2",
            "m3",
            "sub_centers",
            "easy_margin",
            "theta_overflow",
            "dropout",
        ];
        const TRAIN_KEYS: [&str; 17] = [
            "epochs",
            "batch_size",
            "lr",
            "optimizer",
            "momentum",
            "nesterov",
            "weight_decay",
            "schedule",
            "warmup_epochs",
            "step_epochs",
            "gamma",
            "min_lr",
            "power",
            "clip_grad_norm",
            "init_from",
            "freeze_backbone_epochs",
            "num_workers",
        ];
        const TOP_KEYS: [&str; 8] = [
            "name", "out_dir", "seed", "data", "model", "train", "render", "compare",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

            /// Any text at all, as one or two `--set` items: an answer, never a panic.
            #[test]
            fn any_set_item_gives_a_config_or_an_error(a in any::<String>(), b in "[a-z_.]{0,16}=[ -~]{0,24}") {
                let _ = RunConfig::parse(MINIMAL, Path::new("t.toml"), std::slice::from_ref(&a));
                let _ = RunConfig::parse(MINIMAL, Path::new("t.toml"), &[b, a]);
            }

            /// `--set train.epochs=N` gives N epochs, for every N a config accepts; the last of
            /// several `--set`s of one key wins.
            #[test]
            fn set_epochs_is_the_epochs(n in 1usize..=1_000_000_000, m in 1usize..=100) {
                let c = RunConfig::parse(MINIMAL, Path::new("t.toml"), &[format!("train.epochs={n}")]).unwrap();
                prop_assert_eq!(c.train.epochs, n);
                let c = RunConfig::parse(
                    MINIMAL,
                    Path::new("t.toml"),
                    &[format!("train.epochs={m}"), format!("train.epochs = {n}")],
                ).unwrap();
                prop_assert_eq!(c.train.epochs, n);
                prop_assert_eq!(c.train.batch_size, 32, "other keys keep their defaults");
            }

            /// `--set seed=N` for any u64 that TOML can write (up to i64::MAX).
            #[test]
            fn set_seed_is_the_seed(n in 0u64..=i64::MAX as u64) {
                let c = RunConfig::parse(MINIMAL, Path::new("t.toml"), &[format!("seed={n}")]).unwrap();
                prop_assert_eq!(c.seed, n);
            }

            /// A key outside the schema is refused, and the message names it.
            #[test]
            fn unknown_keys_are_refused_by_name(key in "[a-z][a-z0-9_]{0,12}", table in 0usize..3) {
                let (known, prefix): (&[&str], &str) = match table {
                    0 => (&TOP_KEYS, ""),
                    1 => (&MODEL_KEYS, "model."),
                    _ => (&TRAIN_KEYS, "train."),
                };
                prop_assume!(!known.contains(&key.as_str()));
                let item = format!("{prefix}{key}=1");
                match RunConfig::parse(MINIMAL, Path::new("t.toml"), std::slice::from_ref(&item)) {
                    Ok(_) => prop_assert!(false, "{item} was accepted"),
                    Err(err) => {
                        let err = format!("{err:#}");
                        prop_assert!(err.contains(&format!("`{key}`")), "{item}: {err}");
                    }
                }
            }

            /// An embedding size too large for this machine is refused by name whatever else
            /// the config says; one that fits is taken as given.
            #[test]
            fn set_embedding_dim_is_the_dim_or_refused_by_name(dim in 1usize..=1usize << 40) {
                let item = format!("model.embedding_dim={dim}");
                match RunConfig::parse(MINIMAL, Path::new("t.toml"), &[item]) {
                    Ok(c) => {
                        prop_assert_eq!(c.model.embedding_dim, dim);
                        let fits = memory::machine_memory().is_none_or(|m| c.footprint().total_bytes() <= m);
                        prop_assert!(fits);
                    }
                    Err(err) => {
                        let err = format!("{err:#}");
                        prop_assert!(err.starts_with(&format!("--set model.embedding_dim={dim}: model.embedding_dim = {dim}: training would need")), "{err}");
                        let mem = memory::machine_memory();
                        prop_assert!(mem.is_some());
                    }
                }
            }
        }
    }
}
