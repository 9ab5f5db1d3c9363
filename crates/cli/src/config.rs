//! The run configuration: one TOML file, unknown keys rejected, `--set key=value` overrides.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arcface_core::{
    ArcFaceConfig, CombinedMarginConfig, CosFaceConfig, EmbeddingNetConfig, HeadConfig,
    NormFaceConfig, SoftmaxHeadConfig, SphereFaceConfig, SubCenterArcFaceConfig, ThetaOverflow,
    Vgg8Config,
};
use celeba_data::DataConfig;
use serde::{Deserialize, Serialize};

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
    /// Width of the comparison grid, pixels.
    pub size: u32,
    /// Margin per head (`cosface = 0.2`); a head not listed keeps `model.margin` when it is the
    /// config's own head, else its paper default (ArcFace 0.5, CosFace 0.35, SphereFace 4).
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

/// Which head sits on the embedding.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Linear classifier, the baseline.
    Softmax,
    /// Additive angular margin.
    Arcface,
    /// Normalised softmax with scale, no margin.
    Normface,
    /// Additive cosine margin.
    Cosface,
    /// Multiplicative angular margin (on normalised features).
    Sphereface,
    /// insightface's combined margin `cos(m1 theta + m2) - m3`.
    Combined,
    /// ArcFace with `sub_centers` centres per class.
    Subcenter,
}

impl HeadKind {
    /// The config name of the head (`"arcface"`).
    pub fn name(self) -> &'static str {
        match self {
            HeadKind::Softmax => "softmax",
            HeadKind::Arcface => "arcface",
            HeadKind::Normface => "normface",
            HeadKind::Cosface => "cosface",
            HeadKind::Sphereface => "sphereface",
            HeadKind::Combined => "combined",
            HeadKind::Subcenter => "subcenter",
        }
    }

    /// Reads a head name as the config spells it.
    pub fn parse(name: &str) -> Option<Self> {
        toml::Value::String(name.trim().to_string()).try_into().ok()
    }

    /// The margin a head gets when the config gives none: ArcFace's 0.5 rad (the seed),
    /// CosFace's 0.35 (its paper), SphereFace's 4 (its paper).
    fn default_margin(self) -> f64 {
        match self {
            HeadKind::Cosface => 0.35,
            HeadKind::Sphereface => 4.0,
            _ => 0.5,
        }
    }
}

/// `theta + m > pi` handling of ArcFace.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// `cos(theta + m)` everywhere (the seed).
    Exact,
    /// `cos(theta) - m sin(m)` past `pi - m`.
    Insightface,
}

/// `[model]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Embedding size: 2 (circle), 3 (sphere) or more.
    pub embedding_dim: usize,
    /// `"arcface"` or `"softmax"`.
    pub head: HeadKind,
    /// ArcFace scale `s`.
    pub scale: f64,
    /// The head's margin `m`: radians for ArcFace and sub-center ArcFace, a cosine offset for
    /// CosFace, a whole-number multiplier for SphereFace. Default per head: 0.5, 0.35, 4.
    pub margin: Option<f64>,
    /// Combined margin `cos(m1 theta + m2) - m3`: `m1`.
    pub m1: f64,
    /// Combined margin: `m2`, radians.
    pub m2: f64,
    /// Combined margin: `m3`.
    pub m3: f64,
    /// Sub-center ArcFace: centres per class.
    pub sub_centers: usize,
    /// ArcFace `easy_margin`.
    pub easy_margin: bool,
    /// ArcFace handling of `theta + m > pi`: `"exact"` or `"insightface"`.
    pub theta_overflow: Overflow,
    /// Dropout before the embedding layer.
    pub dropout: f64,
}

impl ModelConfig {
    /// The additive angular margin the head adds to the target angle, radians: `m` of ArcFace
    /// and sub-center ArcFace, `m2` of the combined margin, 0 for the other heads (their
    /// margins are not added to the angle).
    pub fn angular_margin(&self) -> f64 {
        match self.head {
            HeadKind::Arcface | HeadKind::Subcenter => {
                self.margin.unwrap_or(self.head.default_margin())
            }
            HeadKind::Combined => self.m2,
            _ => 0.0,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            embedding_dim: 2,
            head: HeadKind::Arcface,
            scale: 15.0,
            margin: None,
            m1: 1.0,
            m2: 0.3,
            m3: 0.2,
            sub_centers: 3,
            easy_margin: false,
            theta_overflow: Overflow::Exact,
            dropout: 0.5,
        }
    }
}

/// `[train]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Threads that assemble batches while the model steps.
    pub num_workers: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            lr: 1e-3,
            num_workers: 2,
        }
    }
}

/// `[render]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// Render the pictures after training (`--no-render` turns it off for one run).
    pub enabled: bool,
    /// Side of each square frame, pixels.
    pub size: u32,
    /// GIF frame time, milliseconds.
    pub frame_ms: u32,
    /// How long the GIF holds its last frame, milliseconds.
    pub last_frame_ms: u32,
    /// Draw the decision boundaries between neighbouring centres and the head's margin band
    /// around them (2-D frames of the normalised heads).
    pub geometry: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            size: 640,
            frame_ms: 125,
            last_frame_ms: 3000,
            geometry: true,
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
        toml::from_str::<RunConfig>(text)
            .with_context(|| format!("invalid config file {}", origin.display()))?;
        let mut table: toml::Table = toml::from_str(text)
            .with_context(|| format!("invalid config file {}", origin.display()))?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let config: RunConfig = toml::Value::Table(table).try_into().with_context(|| {
            format!(
                "config {} with --set {:?} is invalid",
                origin.display(),
                overrides
            )
        })?;
        config.validate()?;
        let mut config = config;
        if matches!(
            config.model.head,
            HeadKind::Arcface | HeadKind::Cosface | HeadKind::Sphereface | HeadKind::Subcenter
        ) {
            // The resolved config.toml states the margin the run actually used.
            config.model.margin = Some(config.margin());
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
        if self.train.epochs == 0 {
            bail!("key `train.epochs` = 0: expected at least 1 epoch");
        }
        if self.train.batch_size == 0 {
            bail!("key `train.batch_size` = 0: expected at least 1");
        }
        if !(self.train.lr.is_finite() && self.train.lr > 0.0) {
            bail!(
                "key `train.lr` = {}: expected a positive learning rate",
                self.train.lr
            );
        }
        if self.render.size < 64 {
            bail!(
                "key `render.size` = {}: expected at least 64 pixels",
                self.render.size
            );
        }
        if self.render.frame_ms == 0 {
            bail!("key `render.frame_ms` = 0: expected a frame time in milliseconds");
        }
        if let Some(compare) = &self.compare {
            if compare.heads.is_empty() {
                bail!("key `compare.heads` = []: expected at least one head");
            }
            if compare.size < 128 {
                bail!(
                    "key `compare.size` = {}: expected at least 128 pixels",
                    compare.size
                );
            }
        }
        Ok(())
    }

    /// The network for `classes` classes on images of `shape` = `[channels, height, width]`.
    pub fn network(&self, classes: usize, shape: [usize; 3]) -> EmbeddingNetConfig {
        let m = &self.model;
        let [channels, height, width] = shape;
        let backbone =
            Vgg8Config::new(channels, height, width, m.embedding_dim).with_dropout(m.dropout);
        let (d, margin) = (m.embedding_dim, self.margin());
        let overflow = match m.theta_overflow {
            Overflow::Exact => ThetaOverflow::Exact,
            Overflow::Insightface => ThetaOverflow::InsightFace,
        };
        let head = match m.head {
            HeadKind::Softmax => HeadConfig::Softmax(SoftmaxHeadConfig::new(d, classes)),
            HeadKind::Arcface => HeadConfig::ArcFace(
                ArcFaceConfig::new(d, classes)
                    .with_scale(m.scale)
                    .with_margin(margin)
                    .with_easy_margin(m.easy_margin)
                    .with_overflow(overflow),
            ),
            HeadKind::Normface => {
                HeadConfig::NormFace(NormFaceConfig::new(d, classes).with_scale(m.scale))
            }
            HeadKind::Cosface => HeadConfig::CosFace(
                CosFaceConfig::new(d, classes)
                    .with_scale(m.scale)
                    .with_margin(margin),
            ),
            HeadKind::Sphereface => HeadConfig::SphereFace(
                SphereFaceConfig::new(d, classes)
                    .with_scale(m.scale)
                    .with_margin(margin),
            ),
            HeadKind::Combined => HeadConfig::CombinedMargin(
                CombinedMarginConfig::new(d, classes)
                    .with_scale(m.scale)
                    .with_m1(m.m1)
                    .with_m2(m.m2)
                    .with_m3(m.m3),
            ),
            HeadKind::Subcenter => HeadConfig::SubCenterArcFace(
                SubCenterArcFaceConfig::new(d, classes)
                    .with_sub_centers(m.sub_centers)
                    .with_scale(m.scale)
                    .with_margin(margin)
                    .with_easy_margin(m.easy_margin)
                    .with_overflow(overflow),
            ),
        };
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
        config.model.margin = listed.or(if head == self.model.head {
            self.model.margin
        } else {
            None
        });
        config.model.head = head;
        config.name = head.name().to_string();
        config.out_dir = self.run_dir();
        config.compare = None;
        if matches!(
            head,
            HeadKind::Arcface | HeadKind::Cosface | HeadKind::Sphereface | HeadKind::Subcenter
        ) {
            config.model.margin = Some(config.margin());
        }
        config
    }

    /// The head's margin: the configured one or the head's default.
    pub fn margin(&self) -> f64 {
        self.model
            .margin
            .unwrap_or_else(|| self.model.head.default_margin())
    }

    /// What the frames draw beside the dots: bisectors and margin bands for the normalised
    /// heads when `render.geometry` is on; nothing for softmax, whose boundaries are not
    /// bisectors.
    pub fn geometry(&self) -> viz::Geometry {
        if !self.render.geometry {
            return viz::Geometry::default();
        }
        let band = match self.model.head {
            HeadKind::Softmax => return viz::Geometry::default(),
            HeadKind::Normface | HeadKind::Combined => viz::MarginBand::None,
            HeadKind::Arcface | HeadKind::Subcenter => viz::MarginBand::Angular(self.margin()),
            HeadKind::Cosface => viz::MarginBand::Cosine(self.margin()),
            HeadKind::Sphereface => viz::MarginBand::Multiplicative(self.margin()),
        };
        viz::Geometry {
            boundaries: true,
            band,
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
        assert_eq!((c.model.scale, c.margin()), (15.0, 0.5));
        assert_eq!((c.train.batch_size, c.train.lr), (32, 1e-3));
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
        assert_eq!(c.margin(), 0.3);
        let c = RunConfig::parse(
            MINIMAL,
            Path::new("t.toml"),
            &set("model.head=\"sphereface\""),
        )
        .unwrap();
        assert_eq!(c.margin(), 4.0, "SphereFace's own default margin");
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
}
