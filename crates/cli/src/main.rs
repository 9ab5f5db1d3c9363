//! `arcface-lab`: the command line of arcface-lab.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod args;
mod bench;
mod config;
mod device;
mod render;
mod run_dir;
mod train;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use args::{Cli, Command, RenderArgs, SynthArgs, TrainArgs};
use config::RunConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train_command(args),
        Command::Render(args) => render_command(args),
        Command::Synth(args) => synth_command(args),
        Command::Bench(command) => bench::bench(command),
    }
}

fn train_command(args: TrainArgs) -> Result<()> {
    let mut overrides = args.set.clone();
    if let Some(epochs) = args.epochs {
        overrides.push(format!("train.epochs={epochs}"));
    }
    let mut config = RunConfig::load(&args.config, &overrides)?;
    if let Some(out) = &args.out {
        let name = out
            .file_name()
            .with_context(|| format!("--out {}: expected a folder path", out.display()))?;
        config.name = name.to_string_lossy().into_owned();
        config.out_dir = out.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    }
    let options = train::TrainOptions {
        device: args.device,
        overwrite: args.overwrite,
    };
    let trained = train::train(&config, &options)?;
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
    if args.no_render || !config.render.enabled {
        eprintln!(
            "pictures: run `arcface-lab render {}`",
            trained.run_dir.display()
        );
        return Ok(());
    }
    render::render(&trained.run_dir, &config.render)
}

fn render_command(args: RenderArgs) -> Result<()> {
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
    render::render(run.root(), &render)
}

fn synth_command(args: SynthArgs) -> Result<()> {
    let spec = celeba_data::SynthSpec {
        identities: args.identities,
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
        "wrote {} identities x {} images of {}x{} to {}",
        args.identities,
        args.images_per_identity,
        args.size,
        args.size,
        args.out_dir.display()
    );
    Ok(())
}
