//! `arcface-lab bench`: times training steps and the head alone on random data of a given shape,
//! so that scripts (benches/peer/compare.sh, benches/gpu.sh) can compare backends and other
//! implementations on exactly the same work.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use arcface_core::{EmbeddingNet, LabelledBatch, cross_entropy};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use serde::Serialize;

use crate::args::{BenchCommand, BenchCommon, BenchHeadArgs, BenchStepArgs};
use crate::config::RunConfig;
use crate::config::memory::{self, Footprint};
use crate::device;

/// One result line.
#[derive(Debug, Serialize)]
struct BenchResult {
    #[serde(rename = "impl")]
    implementation: &'static str,
    bench: &'static str,
    device: String,
    head: String,
    /// The backbone of a step; `None` for the head alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    backbone: Option<String>,
    batch: usize,
    input: Option<[usize; 3]>,
    classes: usize,
    dim: usize,
    steps: usize,
    seconds: f64,
    images_per_s: f64,
    ms_per_step: f64,
}

pub fn bench(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Step(args) => step(args),
        BenchCommand::Head(args) => head(args),
        BenchCommand::Embed(args) => embed(args),
    }
}

/// The largest tensors a bench implies (see [`Footprint`]), named by its own options: `input`
/// for `bench step` (Adam's moments included), `None` for `bench head` (weights and gradient).
fn footprint(common: &BenchCommon, input: Option<(&str, [usize; 3])>) -> Footprint {
    let [c, h, w] = input.map_or([0; 3], |(_, shape)| shape);
    let (first_channels, features) = match input {
        Some((_, shape)) => memory::backbone_sizes(common.backbone, common.base_width, shape),
        None => (0, 0),
    };
    Footprint {
        first_channels,
        features,
        classes: common.classes as u128,
        per_class: 1,
        dim: common.dim as u128,
        batch: common.batch as u128,
        eval_batch: 0,
        input: [c as u128, h as u128, w as u128],
        copies: if input.is_some() { 4 } else { 2 },
        names: memory::Names {
            dim: format!("--dim {}", common.dim),
            classes: Some(format!("--classes {}", common.classes)),
            batch: format!("--batch {}", common.batch),
            input: input
                .map(|(text, _)| format!("--input {text}"))
                .unwrap_or_default(),
        },
    }
}

/// The model section the bench uses: the seed's MNIST experiment unless overridden. The
/// `[data]` section is never read, but its image size passes every backbone's least size.
fn model_config(common: &BenchCommon, dim: usize) -> Result<RunConfig> {
    let text = format!(
        "name = \"bench\"\n[data]\nkind = \"synthetic\"\nroot = \"unused\"\nidentities = 2\nimage_size = 32\n\
         [train]\nbatch_size = 1\n[model]\nbackbone = \"{}\"\n{}embedding_dim = {dim}\n\
         head = \"{}\"\ndropout = 0.5\n",
        common.backbone,
        common
            .base_width
            .map(|w| format!("base_width = {w}\n"))
            .unwrap_or_default(),
        common.head
    );
    RunConfig::parse(&text, Path::new("<bench>"), &common.set)
}

fn targets(batch: usize, classes: usize, device: &Device) -> Tensor<1, Int> {
    // Spread over all classes so that every centre gets gradient, as in a real batch.
    let t: Vec<i64> = (0..batch).map(|i| (i * 7919 % classes) as i64).collect();
    Tensor::from_data(TensorData::new(t, [batch]), device)
}

fn check_counts(common: &BenchCommon) -> Result<()> {
    if common.steps == 0 {
        bail!("--steps 0: expected at least one timed step");
    }
    if common.batch == 0 {
        bail!("--batch 0: expected at least 1");
    }
    if common.classes < 2 {
        bail!("--classes {}: expected at least 2", common.classes);
    }
    Ok(())
}

/// Runs `warmup` untimed then `steps` timed calls of `one`, syncing the device before each
/// clock read so that queued GPU work is counted; before each call, rayon's threads are told
/// to spin for work as training does ([`device::DeviceChoice::spin_wait`]).
fn time_steps(
    (choice, device): (device::DeviceChoice, &Device),
    warmup: usize,
    steps: usize,
    mut one: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let spin = choice.spin_wait();
    let mut one = || {
        if let Some(idle) = spin {
            kernels::keep_pool_warm(idle);
        }
        one()
    };
    for _ in 0..warmup {
        one()?;
    }
    device.sync().context("the device failed")?;
    let started = Instant::now();
    for _ in 0..steps {
        one()?;
    }
    device.sync().context("the device failed")?;
    Ok(started.elapsed().as_secs_f64())
}

fn report(result: &BenchResult, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(result)?);
    } else {
        println!(
            "{} {}{} on {}: batch {}, {} classes, {}-D{}: {:.1} images/s ({:.2} ms/step over {} steps)",
            result.bench,
            result.head,
            result
                .backbone
                .as_ref()
                .map(|b| format!(" on {b}"))
                .unwrap_or_default(),
            result.device,
            result.batch,
            result.classes,
            result.dim,
            result
                .input
                .map(|[c, h, w]| format!(", input {c}x{h}x{w}"))
                .unwrap_or_default(),
            result.images_per_s,
            result.ms_per_step,
            result.steps
        );
    }
    Ok(())
}

/// What `bench step` and `bench embed` run on: the device, a network for the shapes and one
/// batch of random images, after the checks of the options.
struct Backbone {
    choice: device::DeviceChoice,
    device: Device,
    model: EmbeddingNet,
    images: Tensor<4>,
    input: [usize; 3],
}

/// [`Backbone`] for `args`; on an autodiff device when `autodiff` (training steps).
fn backbone(args: &BenchStepArgs, autodiff: bool) -> Result<Backbone> {
    let common = &args.common;
    check_counts(common)?;
    let input = parse_input(&args.input)?;
    memory::check_fits(
        &footprint(common, Some((&args.input, input))),
        memory::machine_memory(),
    )?;
    let config = model_config(common, common.dim)?;
    let (choice, device) = device::open(common.device)?;
    device.seed(58);
    let device = if autodiff { device.autodiff() } else { device };
    let model = config
        .network(common.classes, input)
        .init(&device)
        .context("the model cannot be built for these shapes")?;
    let [c, h, w] = input;
    let images = Tensor::<4>::random(
        [common.batch, c, h, w],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    Ok(Backbone {
        choice,
        device,
        model,
        images,
        input,
    })
}

fn step(args: BenchStepArgs) -> Result<()> {
    let common = &args.common;
    let Backbone {
        choice,
        device,
        mut model,
        images,
        input,
    } = backbone(&args, true)?;
    let mut optim = AdamConfig::new().init();
    let t = targets(common.batch, common.classes, &device);
    let seconds = time_steps((choice, &device), common.warmup, common.steps, || {
        let out = model
            .forward(LabelledBatch {
                images: images.clone(),
                targets: t.clone(),
            })
            .output;
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-3, model.clone(), grads);
        Ok(())
    })?;
    report(
        &result("step", choice, common, Some(input), seconds),
        common.json,
    )
}

/// The backbone's forward on a device without autodiff: batch norm on its running statistics,
/// no dropout, no graph kept, as the snapshots and validation run it.
fn embed(args: BenchStepArgs) -> Result<()> {
    let common = &args.common;
    let Backbone {
        choice,
        device,
        model,
        images,
        input,
    } = backbone(&args, false)?;
    let seconds = time_steps((choice, &device), common.warmup, common.steps, || {
        drop(model.embed(images.clone()));
        Ok(())
    })?;
    report(
        &result("embed", choice, common, Some(input), seconds),
        common.json,
    )
}

fn head(args: BenchHeadArgs) -> Result<()> {
    let common = &args.common;
    check_counts(common)?;
    memory::check_fits(&footprint(common, None), memory::machine_memory())?;
    let config = model_config(common, common.dim)?;
    let (choice, device) = device::open(common.device)?;
    device.seed(58);
    let device = device.autodiff();
    let head = config
        .network(common.classes, [1, 8, 8])
        .head
        .init(&device)
        .context("the head cannot be built for these shapes")?;
    let x = Tensor::<2>::random(
        [common.batch, common.dim],
        Distribution::Normal(0.0, 1.0),
        &device,
    )
    .require_grad();
    let t = targets(common.batch, common.classes, &device);
    let seconds = time_steps((choice, &device), common.warmup, common.steps, || {
        let out = head.forward(x.clone(), t.clone());
        let grads = cross_entropy(out.train_logits, t.clone()).backward();
        drop(grads);
        Ok(())
    })?;
    report(&result("head", choice, common, None, seconds), common.json)
}

fn result(
    bench: &'static str,
    choice: device::DeviceChoice,
    common: &BenchCommon,
    input: Option<[usize; 3]>,
    seconds: f64,
) -> BenchResult {
    let images = (common.batch * common.steps) as f64;
    BenchResult {
        implementation: "arcface-lab",
        bench,
        device: format!("{choice:?}").to_lowercase(),
        head: common.head.clone(),
        backbone: input.map(|_| match common.base_width {
            Some(w) => format!("{} (base width {w})", common.backbone),
            None => common.backbone.to_string(),
        }),
        batch: common.batch,
        input,
        classes: common.classes,
        dim: common.dim,
        steps: common.steps,
        seconds,
        images_per_s: images / seconds,
        ms_per_step: 1000.0 * seconds / common.steps as f64,
    }
}

/// `CxHxW`, e.g. `1x28x28`.
fn parse_input(text: &str) -> Result<[usize; 3]> {
    let parts: Vec<&str> = text.split('x').collect();
    let bad = || anyhow::anyhow!("--input {text:?}: expected CxHxW, e.g. 1x28x28 or 3x64x64");
    if parts.len() != 3 {
        return Err(bad());
    }
    let mut dims = [0usize; 3];
    for (dim, part) in dims.iter_mut().zip(&parts) {
        *dim = part.trim().parse().map_err(|_| bad())?;
        if *dim == 0 {
            return Err(bad());
        }
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_of_the_default_benches_by_hand() {
        let mut common = BenchCommon {
            head: "arcface".into(),
            backbone: crate::config::BackboneKind::Vgg8,
            base_width: None,
            batch: 32,
            classes: 10,
            dim: 3,
            steps: 1,
            warmup: 0,
            device: device::DeviceChoice::Flex,
            set: Vec::new(),
            json: false,
        };
        let step = footprint(&common, Some(("1x28x28", [1, 28, 28])));
        // (10 classes + 64 x 3 x 3 features) x 3 dims x 4 copies x 4 bytes.
        assert_eq!(step.parameter_bytes(), (10 + 576) * 3 * 16);
        // 32 images x (1 + 16) channels x 28 x 28 x 4 bytes.
        assert_eq!(step.activation_bytes(), 1_705_984);
        let head = footprint(&common, None);
        // 10 x 3 weights and their gradient, no backbone, no batch of images.
        assert_eq!((head.parameter_bytes(), head.activation_bytes()), (240, 0));
        // iResNet-18 at base width 16 on 3x64x64: 128 x 4 x 4 features, a 16-channel stem.
        common.backbone = crate::config::BackboneKind::Iresnet18;
        common.base_width = Some(16);
        let step = footprint(&common, Some(("3x64x64", [3, 64, 64])));
        assert_eq!(step.parameter_bytes(), (10 + 128 * 16) * 3 * 16);
        assert_eq!(step.activation_bytes(), 32 * (3 + 16) * 64 * 64 * 4);
    }

    #[test]
    fn input_shapes_parse_and_bad_ones_are_named() {
        assert_eq!(parse_input("1x28x28").unwrap(), [1, 28, 28]);
        assert_eq!(parse_input("3x64x48").unwrap(), [3, 64, 48]);
        for bad in ["28x28", "1x0x28", "ax28x28", ""] {
            let err = parse_input(bad).unwrap_err().to_string();
            assert!(err.contains("CxHxW"), "{bad}: {err}");
        }
    }
}
