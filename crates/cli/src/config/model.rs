//! `[model]`: the backbone, the embedding size, dropout and the head, an enum tagged by `head`
//! whose variants hold only their own keys.

use arcface_core::{CosineHeadConfig, HeadConfig, Margin, SoftmaxHeadConfig, ThetaOverflow};
use clap::ValueEnum;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// The head names, as `[model] head`, `[compare] heads` and `--heads` spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, ValueEnum)]
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

impl std::fmt::Display for HeadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_possible_value() {
            // `pad`, not `write_str`: tables align head names with `{:<11}`.
            Some(value) => f.pad(value.get_name()),
            None => Ok(()),
        }
    }
}

impl HeadKind {
    /// The head with every key at its default.
    pub fn defaults(self) -> HeadSettings {
        let table = toml::Table::from_iter([("head".to_string(), self.to_string().into())]);
        // Every key of every variant has a default, so the name alone deserialises.
        HeadSettings::deserialize(toml::Value::Table(table)).unwrap_or(HeadSettings::Softmax)
    }

    /// The `[model]` keys of this head (besides `head`, `embedding_dim` and `dropout`).
    fn keys(self) -> Vec<String> {
        toml::Table::try_from(self.defaults())
            .map(|t| {
                t.into_iter()
                    .map(|(k, _)| k)
                    .filter(|k| k != "head")
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The backbone names, as `[model] backbone` and `bench step --backbone` spell them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackboneKind {
    /// The seed's VGG8 (16/32/64 channels).
    #[default]
    Vgg8,
    /// ResNet-18 with a 3x3 stride-1 stem (CIFAR's).
    Resnet18,
    /// insightface's iResNet-18.
    Iresnet18,
}

impl std::fmt::Display for BackboneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_possible_value() {
            Some(value) => f.pad(value.get_name()),
            None => Ok(()),
        }
    }
}

impl BackboneKind {
    /// The least image side the backbone takes (arcface-core refuses less when building it).
    pub fn least_side(self) -> usize {
        match self {
            BackboneKind::Vgg8 => arcface_core::VGG8_LEAST_SIDE,
            BackboneKind::Resnet18 | BackboneKind::Iresnet18 => arcface_core::RESNET_LEAST_SIDE,
        }
    }
}

/// The first stage's channels of the residual backbones when `base_width` is not given (the
/// papers' 64).
pub const DEFAULT_BASE_WIDTH: usize = 64;

/// serde's `default = ".."` names a function: one per default value.
macro_rules! defaults {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        $(fn $name() -> $ty { $value })*
    };
}

defaults! {
    scale: f64 = 15.0;
    arcface_margin: f64 = 0.5;
    cosface_margin: f64 = 0.35;
    sphereface_margin: f64 = 4.0;
    m1: f64 = 1.0;
    m2: f64 = 0.3;
    m3: f64 = 0.2;
    sub_centers: usize = 3;
    exact: ThetaOverflow = ThetaOverflow::Exact;
}

/// The head and its own keys, with each key's default: the margins are the papers' (ArcFace's
/// 0.5 rad is the seed's), the scale is the seed's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "head", rename_all = "lowercase", deny_unknown_fields)]
pub enum HeadSettings {
    /// Linear layer + cross-entropy; no keys.
    Softmax,
    /// Additive angular margin `cos(theta + m)`.
    Arcface {
        /// Scale `s`.
        #[serde(default = "scale")]
        scale: f64,
        /// `m`, radians.
        #[serde(default = "arcface_margin")]
        margin: f64,
        /// Apply the margin only where `cos(theta) > 0`.
        #[serde(default)]
        easy_margin: bool,
        /// `"exact"` or `"insightface"` where `theta + m > pi`.
        #[serde(default = "exact")]
        theta_overflow: ThetaOverflow,
    },
    /// Normalised softmax, no margin.
    Normface {
        /// Scale `s`.
        #[serde(default = "scale")]
        scale: f64,
    },
    /// Additive cosine margin `cos(theta) - m`.
    Cosface {
        /// Scale `s`.
        #[serde(default = "scale")]
        scale: f64,
        /// `m`, a cosine offset.
        #[serde(default = "cosface_margin")]
        margin: f64,
    },
    /// Multiplicative angular margin `cos(m theta)`, monotonically extended.
    Sphereface {
        /// Scale `s`.
        #[serde(default = "scale")]
        scale: f64,
        /// `m`, a whole-number multiplier.
        #[serde(default = "sphereface_margin")]
        margin: f64,
    },
    /// `cos(m1 theta + m2) - m3`.
    Combined {
        /// Scale `s`.
        #[serde(default = "scale")]
        scale: f64,
        /// `m1`, multiplicative.
        #[serde(default = "m1")]
        m1: f64,
        /// `m2`, radians.
        #[serde(default = "m2")]
        m2: f64,
        /// `m3`, a cosine offset.
        #[serde(default = "m3")]
        m3: f64,
    },
    /// ArcFace with `sub_centers` centres per class.
    Subcenter {
        /// Scale `s`.
        #[serde(default = "scale")]
        scale: f64,
        /// `m`, radians.
        #[serde(default = "arcface_margin")]
        margin: f64,
        /// Apply the margin only where `cos(theta) > 0`.
        #[serde(default)]
        easy_margin: bool,
        /// `"exact"` or `"insightface"` where `theta + m > pi`.
        #[serde(default = "exact")]
        theta_overflow: ThetaOverflow,
        /// Centres per class, `K`.
        #[serde(default = "sub_centers")]
        sub_centers: usize,
    },
}

impl HeadSettings {
    /// The head's name.
    pub fn kind(&self) -> HeadKind {
        match self {
            HeadSettings::Softmax => HeadKind::Softmax,
            HeadSettings::Arcface { .. } => HeadKind::Arcface,
            HeadSettings::Normface { .. } => HeadKind::Normface,
            HeadSettings::Cosface { .. } => HeadKind::Cosface,
            HeadSettings::Sphereface { .. } => HeadKind::Sphereface,
            HeadSettings::Combined { .. } => HeadKind::Combined,
            HeadSettings::Subcenter { .. } => HeadKind::Subcenter,
        }
    }

    /// The scale `s` of the cosine heads.
    pub fn scale(&self) -> Option<f64> {
        match *self {
            HeadSettings::Softmax => None,
            HeadSettings::Arcface { scale, .. }
            | HeadSettings::Normface { scale }
            | HeadSettings::Cosface { scale, .. }
            | HeadSettings::Sphereface { scale, .. }
            | HeadSettings::Combined { scale, .. }
            | HeadSettings::Subcenter { scale, .. } => Some(scale),
        }
    }

    /// The `margin` key of the heads that have one.
    pub fn margin(&self) -> Option<f64> {
        match *self {
            HeadSettings::Arcface { margin, .. }
            | HeadSettings::Cosface { margin, .. }
            | HeadSettings::Sphereface { margin, .. }
            | HeadSettings::Subcenter { margin, .. } => Some(margin),
            _ => None,
        }
    }

    /// Weight vectors per class (sub-center ArcFace's `sub_centers`, else 1).
    pub fn per_class(&self) -> usize {
        match *self {
            HeadSettings::Subcenter { sub_centers, .. } => sub_centers,
            _ => 1,
        }
    }

    /// The margin in arcface-core's terms; `None` for softmax.
    fn margin_of_cosine_head(&self) -> Option<Margin> {
        Some(match *self {
            HeadSettings::Softmax => return None,
            HeadSettings::Normface { .. } => Margin::None,
            HeadSettings::Cosface { margin, .. } => Margin::AdditiveCosine { m: margin },
            HeadSettings::Sphereface { margin, .. } => Margin::MultiplicativeAngle { m: margin },
            HeadSettings::Combined { m1, m2, m3, .. } => Margin::Combined { m1, m2, m3 },
            HeadSettings::Arcface {
                margin,
                easy_margin,
                theta_overflow,
                ..
            }
            | HeadSettings::Subcenter {
                margin,
                easy_margin,
                theta_overflow,
                ..
            } => Margin::AdditiveAngle {
                m: margin,
                easy_margin,
                overflow: theta_overflow,
            },
        })
    }

    /// arcface-core's head for `classes` classes on `dim`-D embeddings.
    pub fn head_config(&self, dim: usize, classes: usize) -> HeadConfig {
        match (self.margin_of_cosine_head(), self.scale()) {
            (Some(margin), Some(scale)) => HeadConfig::Cosine(
                CosineHeadConfig::new(dim, classes)
                    .with_scale(scale)
                    .with_margin(margin)
                    .with_sub_centers(self.per_class()),
            ),
            _ => HeadConfig::Softmax(SoftmaxHeadConfig::new(dim, classes)),
        }
    }

    /// The additive angular margin the head adds to the target angle, radians: `m` of ArcFace
    /// and sub-center ArcFace, `m2` of the combined margin, 0 for the other heads (their
    /// margins are not added to the angle).
    pub fn angular_margin(&self) -> f64 {
        match self.margin_of_cosine_head() {
            Some(Margin::AdditiveAngle { m, .. }) => m,
            Some(Margin::Combined { m2, .. }) => m2,
            _ => 0.0,
        }
    }

    /// The band the frames draw around the boundaries; `None` for softmax, whose boundaries are
    /// not bisectors.
    pub fn band(&self) -> Option<viz::MarginBand> {
        Some(match self.margin_of_cosine_head()? {
            Margin::None | Margin::Combined { .. } => viz::MarginBand::None,
            Margin::AdditiveAngle { m, .. } => viz::MarginBand::Angular(m),
            Margin::AdditiveCosine { m } => viz::MarginBand::Cosine(m),
            Margin::MultiplicativeAngle { m } => viz::MarginBand::Multiplicative(m),
        })
    }

    /// "ArcFace, s = 10, m = 0.3 rad".
    pub fn describe(&self) -> String {
        match self {
            HeadSettings::Softmax => "softmax (linear layer + cross-entropy)".into(),
            HeadSettings::Normface { scale: s } => format!("NormFace, s = {s}"),
            HeadSettings::Arcface {
                scale: s,
                margin: m,
                ..
            } => format!("ArcFace, s = {s}, m = {m} rad"),
            HeadSettings::Cosface {
                scale: s,
                margin: m,
            } => format!("CosFace, s = {s}, m = {m}"),
            HeadSettings::Sphereface {
                scale: s,
                margin: m,
            } => format!("SphereFace, s = {s}, m = {m}"),
            HeadSettings::Combined {
                scale: s,
                m1,
                m2,
                m3,
            } => format!(
                "combined margin cos(m1 θ + m2) − m3, s = {s}, m1 = {m1}, m2 = {m2}, m3 = {m3}"
            ),
            HeadSettings::Subcenter {
                scale: s,
                margin: m,
                sub_centers: k,
                ..
            } => format!("sub-center ArcFace, {k} centres a class, s = {s}, m = {m} rad"),
        }
    }

    /// `kind` with the keys it shares with this head carried over (the scale, ArcFace's
    /// overflow handling..), for `compare`; the margin is `margin`, else this head's own when
    /// `kind` is this head, else `kind`'s default.
    pub fn for_kind(&self, kind: HeadKind, margin: Option<f64>) -> HeadSettings {
        let mine = toml::Table::try_from(self).unwrap_or_default();
        let mut theirs = toml::Table::try_from(kind.defaults()).unwrap_or_default();
        for (key, value) in theirs.iter_mut() {
            let carried = key != "head" && (key != "margin" || kind == self.kind());
            if let Some(mine) = mine.get(key).filter(|_| carried) {
                *value = mine.clone();
            }
        }
        if let (Some(m), true) = (margin, theirs.contains_key("margin")) {
            theirs.insert("margin".into(), m.into());
        }
        HeadSettings::deserialize(toml::Value::Table(theirs)).unwrap_or_else(|_| kind.defaults())
    }
}

/// `[model]`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    /// Images to embeddings.
    pub backbone: BackboneKind,
    /// The residual backbones' first-stage channels (`None`: [`DEFAULT_BASE_WIDTH`]); VGG8
    /// has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_width: Option<usize>,
    /// Embedding size: 2 (circle), 3 (sphere) or more.
    pub embedding_dim: usize,
    /// The head (`head = "arcface"` and its keys).
    #[serde(flatten)]
    pub head: HeadSettings,
    /// Dropout before the embedding layer.
    pub dropout: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            backbone: BackboneKind::Vgg8,
            base_width: None,
            embedding_dim: 2,
            head: HeadKind::Arcface.defaults(),
            dropout: 0.5,
        }
    }
}

/// Every key `[model]` may hold, whatever the head: typos and wrong types are refused here,
/// by serde, at their line.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ModelKeys {
    backbone: Option<BackboneKind>,
    base_width: Option<usize>,
    embedding_dim: Option<usize>,
    head: Option<HeadKind>,
    scale: Option<f64>,
    margin: Option<f64>,
    m1: Option<f64>,
    m2: Option<f64>,
    m3: Option<f64>,
    sub_centers: Option<usize>,
    easy_margin: Option<bool>,
    theta_overflow: Option<ThetaOverflow>,
    dropout: Option<f64>,
}

/// Keys every head has.
const COMMON: [&str; 5] = ["backbone", "base_width", "embedding_dim", "head", "dropout"];

/// Keys every resolved `config.toml` of earlier versions lists, whatever its head (the flat
/// `[model]` of before the heads had their own keys). A `[model]` with all of them is such a
/// file, and the keys its head does not use are dropped rather than refused.
const EVERY_HEAD_BEFORE: [&str; 6] = [
    "m1",
    "m2",
    "m3",
    "sub_centers",
    "easy_margin",
    "theta_overflow",
];

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = ModelKeys::deserialize(deserializer)?;
        let kind = keys.head.unwrap_or(HeadKind::Arcface);
        let mut table = toml::Table::try_from(&keys).map_err(D::Error::custom)?;
        let written_before = EVERY_HEAD_BEFORE.iter().all(|k| table.contains_key(*k));
        let own = kind.keys();
        let foreign: Vec<String> = table
            .keys()
            .filter(|k| !COMMON.contains(&k.as_str()) && !own.contains(k))
            .cloned()
            .collect();
        for key in foreign {
            if !written_before {
                return Err(D::Error::custom(foreign_key(kind, &key)));
            }
            table.remove(&key);
        }
        let backbone = keys.backbone.unwrap_or_default();
        if let (BackboneKind::Vgg8, Some(_)) = (backbone, keys.base_width) {
            return Err(D::Error::custom(
                "key `model.base_width`: the vgg8 backbone has fixed widths (16/32/64); \
                 base_width is a key of backbone = \"resnet18\" or \"iresnet18\"",
            ));
        }
        if keys.base_width == Some(0) {
            return Err(D::Error::custom(
                "key `model.base_width`: expected at least 1 channel (the papers' 64), got 0",
            ));
        }
        let embedding_dim = keys.embedding_dim.unwrap_or(2);
        let dropout = keys.dropout.unwrap_or(0.5);
        for key in ["backbone", "base_width", "embedding_dim", "dropout"] {
            table.remove(key);
        }
        table.insert("head".into(), kind.to_string().into());
        let head =
            HeadSettings::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(ModelConfig {
            backbone,
            base_width: keys.base_width,
            embedding_dim,
            head,
            dropout,
        })
    }
}

/// Drops from `table`'s `[model]` the keys its head does not have, except the `--set` ones in
/// `set` (`model.m1`), which stay to be refused by name.
pub(super) fn drop_keys_of_other_heads(table: &mut toml::Table, set: &[&str]) {
    let Some(toml::Value::Table(model)) = table.get_mut("model") else {
        return;
    };
    // An unknown head name is left for the deserialisation to refuse.
    let Some(kind) = model
        .get("head")
        .and_then(|v| HeadKind::deserialize(v.clone()).ok())
    else {
        return;
    };
    let own = kind.keys();
    model.retain(|key, _| {
        COMMON.contains(&key)
            || own.iter().any(|k| k == key)
            || set.contains(&format!("model.{key}").as_str())
    });
}

/// `--heads` and the like: a head name, refused with the list of names.
pub fn parse_head(name: &str) -> Result<HeadKind, String> {
    HeadKind::from_str(name.trim(), false).map_err(|_| {
        let names: Vec<String> = HeadKind::value_variants()
            .iter()
            .map(|k| k.to_string())
            .collect();
        let (last, rest) = names
            .split_last()
            .map_or(("", &[][..]), |(l, r)| (l.as_str(), r));
        format!(
            "unknown head {name:?}; expected {} or {last}",
            rest.join(", ")
        )
    })
}

/// "key `model.m1`: [model] head = "arcface" has no key `m1` (it belongs to combined)".
fn foreign_key(kind: HeadKind, key: &str) -> String {
    let owners: Vec<String> = HeadKind::value_variants()
        .iter()
        .filter(|k| k.keys().iter().any(|own| own == key))
        .map(|k| k.to_string())
        .collect();
    format!(
        "key `model.{key}`: [model] head = \"{kind}\" has no key `{key}` (it belongs to {})",
        owners.join(", ")
    )
}
