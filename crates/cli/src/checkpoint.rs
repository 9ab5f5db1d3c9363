//! A run's trained network, loaded from one of its checkpoints: what `eval`, `embed`, `verify`,
//! `identify` and `export --format onnx|safetensors` start from. The network is built from the
//! run's own `config.toml` and `classes.json`, so loading reads no image of the data set.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arcface_core::EmbeddingNet;
use burn::module::Module;
use burn::prelude::*;
use run_folder::layout;

use crate::config::RunConfig;
use crate::device::{self, DeviceChoice};
use crate::run_dir::RunDir;

/// A checkpoint of a run folder, with the config the run was trained with.
pub struct Checkpoint {
    pub run: RunDir,
    pub config: RunConfig,
    weights: PathBuf,
}

/// A checkpoint's network on a device, with the images it takes.
pub struct Model {
    pub net: EmbeddingNet,
    pub device: Device,
    /// The side images are resized to.
    pub image_size: usize,
    /// Whether the run trained on luma images (else RGB).
    pub grayscale: bool,
    /// Embedding size.
    pub dim: usize,
}

impl Model {
    /// `[channels, height, width]` of one input image.
    pub fn shape(&self) -> [usize; 3] {
        let channels = if self.grayscale { 1 } else { 3 };
        [channels, self.image_size, self.image_size]
    }
}

impl Checkpoint {
    /// `name` (`best` or `last`) of the run in `run_dir`; refused when the run has none yet.
    pub fn open(run_dir: &Path, name: &str) -> Result<Self> {
        let run = RunDir::open(run_dir)?;
        let weights = run.checkpoint(name);
        if !weights.exists() {
            bail!(
                "{}: no such checkpoint (expected best or last of a run that finished an epoch)",
                weights.display()
            );
        }
        Self::with_weights(run, weights)
    }

    /// The checkpoint file `weights` (a `.bpk` of weights) of the run in the nearest folder
    /// above it that holds one (`run/checkpoints/best.bpk`: `run`).
    pub fn open_file(weights: &Path) -> Result<Self> {
        let Some(root) = weights
            .ancestors()
            .skip(1)
            .find(|dir| dir.join(layout::RUN_JSON).exists())
        else {
            bail!(
                "{} is not inside a run folder (no folder above it holds a run.json)",
                weights.display()
            );
        };
        Self::with_weights(RunDir::open(root)?, weights.to_path_buf())
    }

    /// `weights` of `run`, with the config the run was trained with.
    fn with_weights(run: RunDir, weights: PathBuf) -> Result<Self> {
        let config = RunConfig::load(&run.file(layout::CONFIG), &[])?;
        Ok(Self {
            run,
            config,
            weights,
        })
    }

    /// The weights file, `checkpoints/<name>.bpk`.
    pub fn weights(&self) -> &Path {
        &self.weights
    }

    /// The network with the checkpoint's weights, on the device `choice` picks.
    pub fn load(&self, choice: DeviceChoice) -> Result<Model> {
        let classes = self.class_count()?;
        let shape = self.config.data.input_shape();
        let (image_size, grayscale) = (shape[1], shape[0] == 1);
        let (_, device) = device::open(choice)?;
        let net = self.network(classes, &device)?;
        Ok(Model {
            net,
            device,
            image_size,
            grayscale,
            dim: self.config.model.embedding_dim,
        })
    }

    /// The run's network for `classes` classes with the checkpoint's weights, on `device`.
    pub fn network(&self, classes: usize, device: &Device) -> Result<EmbeddingNet> {
        self.config
            .network(classes, self.config.data.input_shape())
            .init(device)
            .context("the run's [model] cannot be built")?
            .try_load_file(&self.weights)
            .with_context(|| format!("cannot load {}", self.weights.display()))
    }

    /// The classifier's size: the classes listed in `classes.json`.
    fn class_count(&self) -> Result<usize> {
        Ok(self.classes()?.len())
    }

    /// The classes of the run, in its labels' order (`classes.json`).
    pub fn classes(&self) -> Result<Vec<String>> {
        let path = self.run.file(layout::CLASSES);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let classes: Vec<String> = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a classes.json written by arcface-lab (expected a list of class names)",
                path.display()
            )
        })?;
        Ok(classes)
    }
}

/// [`Checkpoint::open`] then [`Checkpoint::load`].
pub fn load_model(run_dir: &Path, name: &str, choice: DeviceChoice) -> Result<Model> {
    Checkpoint::open(run_dir, name)?.load(choice)
}
