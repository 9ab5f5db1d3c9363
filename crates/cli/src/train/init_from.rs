//! `train.init_from`: a new run that starts from a trained run's weights. The backbone is
//! always taken over; the head when it classifies the same classes (the same `classes.json`
//! list, in the same order) with the same kind of head, else it starts from the run's seed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use arcface_core::EmbeddingNet;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;

use crate::checkpoint::Checkpoint;
use crate::config::RunConfig;

/// The weights a run starts from.
pub struct InitFrom {
    backbone: ModuleRecord,
    head: Option<ModuleRecord>,
}

/// Checks `train.init_from` of `config`, if it has one: refused, naming the key, when the
/// source is missing or its network does not fit this run's (another embedding size or input).
/// Reads only the source's config, so it can run before the data set is loaded.
pub fn check(config: &RunConfig) -> Result<()> {
    source(config).map(|_| ())
}

/// The checkpoint `train.init_from` names, checked, and the key for messages.
fn source(config: &RunConfig) -> Result<Option<(Checkpoint, String)>> {
    let Some(path) = &config.train.init_from else {
        return Ok(None);
    };
    let key = format!("key `train.init_from` = {:?}", path.display().to_string());
    let source = open_checkpoint(path).with_context(|| key.clone())?;
    let theirs = &source.config;
    let config_file = source.run.file(run_folder::layout::CONFIG);
    if theirs.model.embedding_dim != config.model.embedding_dim {
        bail!(
            "{key}: its embeddings have {} dimensions (model.embedding_dim in {}), this run's {}: the backbone's last layer cannot be taken over",
            theirs.model.embedding_dim,
            config_file.display(),
            config.model.embedding_dim
        );
    }
    let (their_net, our_net) = (
        (theirs.model.backbone, theirs.model.base_width),
        (config.model.backbone, config.model.base_width),
    );
    if their_net != our_net {
        bail!(
            "{key}: its backbone is {} (base_width {:?}, [model] in {}), this run's is {} (base_width {:?}): set model.backbone and model.base_width as the source has them",
            their_net.0,
            their_net.1,
            config_file.display(),
            our_net.0,
            our_net.1
        );
    }
    let (their_shape, our_shape) = (theirs.data.input_shape(), config.data.input_shape());
    if their_shape != our_shape {
        bail!(
            "{key}: it was trained on images of {their_shape:?} (channels, height, width; [data] in {}), this run's are {our_shape:?}: the backbone's layers do not fit",
            config_file.display(),
        );
    }
    Ok(Some((source, key)))
}

/// Opens `train.init_from` of `config` for a run on `data` (see [`check`]), saying what is
/// taken over; `None` without the key.
pub fn open(
    config: &RunConfig,
    data: &celeba_data::LoadedData,
    device: &Device,
) -> Result<Option<InitFrom>> {
    let Some((source, key)) = source(config)? else {
        return Ok(None);
    };
    let theirs = &source.config;
    let classes = source.classes().with_context(|| key.clone())?;
    let net: EmbeddingNet = source
        .network(classes.len(), device)
        .with_context(|| key.clone())?;
    let same_head = theirs.model.head.kind() == config.model.head.kind()
        && theirs.model.head.per_class() == config.model.head.per_class();
    let head = if classes != data.classes {
        eprintln!(
            "init_from: the backbone of {}; the head starts anew (its {} classes are not this run's {})",
            source.weights().display(),
            classes.len(),
            data.classes.len()
        );
        None
    } else if !same_head {
        eprintln!(
            "init_from: the backbone of {}; the head starts anew (its head is {}, this run's {})",
            source.weights().display(),
            theirs.model.head.describe(),
            config.model.head.describe()
        );
        None
    } else {
        eprintln!(
            "init_from: the backbone and the head of {} (the same {} classes)",
            source.weights().display(),
            classes.len()
        );
        Some(net.head.into_record())
    };
    Ok(Some(InitFrom {
        backbone: net.backbone.into_record(),
        head,
    }))
}

/// A run folder's best checkpoint, or a checkpoint file inside a run.
fn open_checkpoint(path: &Path) -> Result<Checkpoint> {
    if path.is_dir() {
        Checkpoint::open(path, "best")
    } else if path.is_file() {
        Checkpoint::open_file(path)
    } else {
        bail!(
            "{} does not exist (expected a run folder, or a checkpoint .bpk file in one)",
            path.display()
        )
    }
}

impl InitFrom {
    /// `model` with the source's backbone, and its head when it is taken over.
    pub fn apply(self, mut model: EmbeddingNet) -> Result<EmbeddingNet> {
        model.backbone = model
            .backbone
            .try_load_record(self.backbone)
            .context("key `train.init_from`: the source's backbone does not fit this run's")?;
        if let Some(head) = self.head {
            model.head = model
                .head
                .try_load_record(head)
                .context("key `train.init_from`: the source's head does not fit this run's")?;
        }
        Ok(model)
    }
}
