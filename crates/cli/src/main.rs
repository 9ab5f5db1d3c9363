//! `arcface-lab`: the command line of arcface-lab.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod args;
mod bench;
mod checkpoint;
mod compare;
mod config;
mod device;
mod embed;
mod eval;
mod export;
mod export_model;
mod identify;
mod onnx;
mod render;
mod run_data;
mod run_dir;
mod signals;
mod train;
mod verify;
mod view;

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use args::{Cli, Command, CompareArgs, ExportArgs, RenderArgs, SynthArgs, TrainArgs};
use config::RunConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    set_up_process();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<train::Interrupted>().is_some() => {
            // Not a failure: the run is whole and resumable; the message says how.
            let signal = err
                .downcast_ref::<train::Interrupted>()
                .map_or(2, |i| i.signal);
            eprintln!("{err}");
            ExitCode::from(signals::exit_code(signal))
        }
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Whether the switch `name` is set to off (`0`, `false`, `off` or `no`); every `ARCFACE_*`
/// switch is on unless so.
fn switched_off(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref().map(str::trim),
        Ok("0" | "false" | "off" | "no")
    )
}

/// The own CPU kernels' switches, from the environment (README, "The backbone").
fn kernel_options_from_env() -> arcface_core::KernelOptions {
    arcface_core::KernelOptions {
        conv: !switched_off("ARCFACE_FASTCONV"),
        direct_conv: !switched_off("ARCFACE_DIRECTCONV"),
        direct_conv_avx512: !switched_off("ARCFACE_AVX512"),
        winograd: !switched_off("ARCFACE_WINOGRAD"),
        batch_norm: !switched_off("ARCFACE_FASTBN"),
        max_pool: !switched_off("ARCFACE_FASTPOOL"),
        dropout: !switched_off("ARCFACE_FASTDROPOUT"),
    }
}

/// How long rayon's idle threads keep looking for work once a CPU training or benchmark step
/// has asked them to ([`kernels::keep_pool_warm`]): long enough to bridge the serial work
/// between a step's parallel sections and between steps (1 ms left some of the gain,
/// `benches/README.md`).
const SPIN_WAIT: Duration = Duration::from_millis(5);

/// [`SPIN_WAIT`] where this thread joined rayon's pool and `ARCFACE_SPIN_WAIT` is not off; set
/// once by [`set_up_process`].
static SPIN_WAIT_SETTING: OnceLock<Option<Duration>> = OnceLock::new();

/// How long rayon's threads spin for work after a CPU step asks them to, if at all (README,
/// "The backbone").
pub(crate) fn spin_wait() -> Option<Duration> {
    SPIN_WAIT_SETTING.get().copied().flatten()
}

/// The process-wide settings, made once before anything builds a network or uses rayon: the
/// kernels' switches, glibc malloc's thresholds, rayon's pool and its spinning.
fn set_up_process() {
    arcface_core::set_kernel_options(kernel_options_from_env());
    // Raised thresholds let the kernels' activation-sized buffers be reused from the heap
    // instead of mapped and faulted in again each step; a malloc setting of the user's wins.
    let user_tuned = [
        "GLIBC_TUNABLES",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if !switched_off("ARCFACE_MALLOC_TUNE") && !user_tuned {
        kernels::tune_malloc();
    }
    // This thread, which trains, then works in the CPU kernels' parallel sections instead of
    // sleeping through each one (~1.1x a CPU training step).
    if !switched_off("ARCFACE_JOIN_POOL") {
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        let joined = kernels::join_cpu_pool(threads);
        // Spinning only helps a caller that works in the sections itself.
        let spin = joined && !switched_off("ARCFACE_SPIN_WAIT");
        let _ = SPIN_WAIT_SETTING.set(spin.then_some(SPIN_WAIT));
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train_command(args),
        Command::Compare(args) => compare_command(args),
        Command::Render(args) => render_command(args),
        Command::Synth(args) => synth_command(args),
        Command::Export(args) => export_command(args),
        Command::Eval(args) => eval::eval(&args.run_dir, &args.checkpoint, args.device),
        Command::Embed(args) => embed::embed(
            &args.run_dir,
            &args.paths,
            &args.checkpoint,
            args.out.as_deref(),
            args.skip_bad,
            args.device,
        ),
        Command::Verify(args) => verify::verify(&args),
        Command::Identify(args) => identify::identify(&args),
        Command::Bench(command) => bench::bench(command),
        Command::View(args) => view::view(
            &args.dir,
            &view::ViewOptions {
                out: args.out,
                thumb_size: args.thumb_size,
                max_thumbs: args.max_thumbs,
                open: args.open,
            },
        )
        .map(|_| ()),
    }
}

impl args::RunArgs {
    /// The config at `path` with `--epochs`, `--set` and `--out` applied.
    fn load_config(&self, path: &std::path::Path) -> Result<RunConfig> {
        let mut overrides = self.set.clone();
        if let Some(epochs) = self.epochs {
            overrides.push(format!("train.epochs={epochs}"));
        }
        let mut config = RunConfig::load(path, &overrides)?;
        // Reads the source run's config only: refused here, at the key's line, before any
        // data is loaded or generated.
        train::check_init_from(&config)
            .map_err(|err| config::locate_in_file(err, path, &overrides))?;
        if let Some(out) = &self.out {
            let name = out
                .file_name()
                .with_context(|| format!("--out {}: expected a folder path", out.display()))?;
            config.name = name.to_string_lossy().into_owned();
            config.out_dir = out.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        }
        Ok(config)
    }

    fn options(&self) -> train::TrainOptions {
        train::TrainOptions {
            device: self.device,
            overwrite: self.overwrite,
        }
    }
}

impl args::RunArgs {
    /// `--resume DIR` with the options that go with it.
    fn resume_request(&self) -> Option<train::ResumeRequest> {
        self.resume.as_ref().map(|dir| train::ResumeRequest {
            dir: dir.clone(),
            epochs: self.epochs,
            set: self.set.clone(),
            device: self.device,
        })
    }
}

fn compare_command(args: CompareArgs) -> Result<()> {
    if let Some(request) = args.run.resume_request() {
        if args.heads.is_some() {
            bail!("--heads with --resume: a resumed comparison keeps its heads");
        }
        let render = !args.run.no_render;
        compare::resume(&request.dir, &request, render)?;
        if render {
            view::after_training(&request.dir);
        }
        return Ok(());
    }
    let config_path = args.config.as_deref().context("expected a config file")?;
    let config = args.run.load_config(config_path)?;
    let heads = args.heads.clone();
    let options = args.run.options();
    let render = !args.run.no_render && config.render.enabled;
    compare::compare(&config, heads, &options, render)?;
    if render {
        view::after_training(&config.run_dir());
    }
    Ok(())
}

fn train_command(args: TrainArgs) -> Result<()> {
    let (config, trained) = match args.run.resume_request() {
        Some(request) => {
            let trained = train::resume(&request)?;
            let config = RunConfig::load(&trained.run_dir.join("config.toml"), &[])?;
            (config, trained)
        }
        None => {
            let config_path = args.config.as_deref().context("expected a config file")?;
            let config = args.run.load_config(config_path)?;
            let trained = train::train(&config, &args.run.options())?;
            (config, trained)
        }
    };
    eprintln!(
        "trained {}: best epoch {}, last val accuracy {:.1}%, {:.0} training images/s",
        trained.run_dir.display(),
        trained
            .best
            .map(|(e, l)| format!("{e} (val loss {l:.4})"))
            .unwrap_or_else(|| "none".into()),
        100.0 * trained.last_val_acc,
        trained.images_per_second
    );
    if trained.held_out > 0 {
        // Open-set verification is what the embedding is for: measure it while the data is warm.
        eval::eval(&trained.run_dir, "best", args.run.device)
            .context("training finished, but evaluating it on the held-out identities failed")?;
    }
    if args.run.no_render || !config.render.enabled {
        eprintln!(
            "pictures: run `arcface-lab render {}`",
            trained.run_dir.display()
        );
        return Ok(());
    }
    render::render(&trained.run_dir, &config.render, config.geometry())?;
    view::after_training(&trained.run_dir);
    Ok(())
}

fn render_command(args: RenderArgs) -> Result<()> {
    if args.run_dir.join("compare.json").exists() {
        return render_compare_folder(&args);
    }
    let run = run_dir::RunDir::open(&args.run_dir)?;
    let config_path = run.root().join("config.toml");
    let config = RunConfig::load(&config_path, &[])?;
    let mut render = config.render.clone();
    if let Some(size) = args.size {
        if size < 64 {
            bail!("--size {size}: expected at least 64 pixels");
        }
        render.size = size;
    }
    if let Some(projection) = args.projection {
        render.projection = projection;
    }
    render::render(run.root(), &render, config.geometry())
}

fn synth_command(args: SynthArgs) -> Result<()> {
    let spec = celeba_data::SynthSpec {
        identities: args.identities,
        held_out_identities: args.held_out_identities,
        images_per_identity: args.images_per_identity,
        image_size: args.size,
        seed: args.seed,
    };
    celeba_data::generate_synthetic(&args.out_dir, &spec).with_context(|| {
        format!(
            "cannot write the synthetic face set to {}",
            args.out_dir.display()
        )
    })?;
    eprintln!(
        "wrote {} identities (+ {} held out) x {} images of {}x{} to {}",
        args.identities,
        args.held_out_identities,
        args.images_per_identity,
        args.size,
        args.size,
        args.out_dir.display()
    );
    Ok(())
}

/// `render` of a comparison folder: every head's run, then the grid.
fn render_compare_folder(args: &RenderArgs) -> Result<()> {
    let root = &args.run_dir;
    let index = compare::read_index(root)?;
    let heads = compare::compare_heads(root)?;
    let mut runs = Vec::new();
    for head in &heads {
        let run = root.join(head.to_string());
        let mut config = RunConfig::load(&run.join("config.toml"), &[])?;
        if let Some(projection) = args.projection {
            config.render.projection = projection;
        }
        render::render(&run, &config.render, config.geometry())?;
        runs.push(config);
    }
    let size = args.size.unwrap_or(index.size).max(128);
    compare::render_comparison(root, size, &runs)
}

fn export_command(args: ExportArgs) -> Result<()> {
    let files = export::export(
        &args.run_dir,
        args.format,
        args.epoch,
        args.out.as_deref(),
        &args.checkpoint,
    )?;
    for file in files {
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}
