use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::BackboneKind;
use crate::device::DeviceChoice;

/// The operating points `eval.json` holds thresholds for (`--far`).
pub const FAR_CHOICES: [&str; 4] = ["1e-1", "1e-2", "1e-3", "eer"];

/// Train margin-loss embedding models (ArcFace, softmax) and watch the classes separate on the
/// circle (2-D) or the sphere (3-D), epoch by epoch.
///
/// Start with the built-in synthetic faces (nothing to download):
///
///     arcface-lab train configs/demo.toml
///
/// then open runs/demo/plots/val.gif.
#[derive(Debug, Parser)]
#[command(name = "arcface-lab", version, about, long_about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Configs (TOML) live in configs/: demo.toml (synthetic faces, 2-D ArcFace), mnist.toml and
mnist-softmax.toml (the seed's experiment), celeba.toml and celeba-softmax.toml.
A run folder holds config.toml, classes.json, metrics.csv, embeddings/, checkpoints/ and plots/
(see README, \"Run output\").";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model from a config file, then draw its pictures.
    Train(TrainArgs),
    /// Train one run per head on the same data and draw them side by side in one grid GIF.
    Compare(CompareArgs),
    /// Redraw the per-epoch frames and GIFs of a finished (or interrupted) run or comparison.
    Render(RenderArgs),
    /// Verification (ROC, EER, TAR@FAR, 10-fold accuracy) and retrieval (P@1, MAP@R, NMI) of a
    /// run's embeddings on its validation split and on its held-out identities.
    Eval(EvalArgs),
    /// Embed images or folders of images with a trained run's model: CSV on stdout, or --out
    /// FILE.npy (+ FILE.files.txt) or FILE.csv.
    Embed(EmbedArgs),
    /// Are two images of one identity? Their cosine similarity against a threshold eval measured
    /// (eval.json: FAR 1e-2 of the held-out pairs by default).
    Verify(VerifyArgs),
    /// Whom do query images show? Ranks the identities of a gallery (one folder per identity)
    /// by cosine similarity; "unknown" below the verification threshold.
    Identify(IdentifyArgs),
    /// Export a run's embeddings: TensorBoard projector TSVs, CSV, or a numpy .npz of all epochs.
    Export(ExportArgs),
    /// Write RUN_DIR/report.html: one self-contained interactive page (epoch slider, rotatable
    /// sphere, class toggles, image thumbnails on hover, curves, evaluation) of a run or a
    /// comparison.
    View(ViewArgs),
    /// Write the built-in synthetic face set (CelebA layout) into a folder.
    Synth(SynthArgs),
    /// Time training steps or the head alone on random data (see benches/README.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Forward, backward and Adam update of the whole network (VGG8 + head).
    Step(BenchStepArgs),
    /// Forward and backward of the head alone on random embeddings.
    Head(BenchHeadArgs),
    /// Eval-mode forward of the backbone alone (what the validation pass and the per-epoch
    /// snapshots run), e.g. --batch 256 as they do.
    Embed(BenchStepArgs),
}

/// What both benches take; the defaults are the seed's MNIST experiment.
#[derive(Debug, Args)]
pub struct BenchCommon {
    /// Head to time: softmax, arcface, normface, cosface, sphereface, combined, subcenter.
    #[arg(long, default_value = "arcface")]
    pub head: String,
    /// Backbone of `bench step` (`bench head` runs none).
    #[arg(long, value_enum, default_value_t = BackboneKind::Vgg8)]
    pub backbone: BackboneKind,
    /// First-stage channels of resnet18 / iresnet18 [64].
    #[arg(long)]
    pub base_width: Option<usize>,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Number of classes.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Embedding size.
    #[arg(long, default_value_t = 3)]
    pub dim: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Backend to time.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Override a model key as in a config, e.g. --set model.margin=0.3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print one JSON line instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchStepArgs {
    /// Image shape, channels x height x width.
    #[arg(long, default_value = "1x28x28", value_name = "CxHxW")]
    pub input: String,
    #[command(flatten)]
    pub common: BenchCommon,
}

#[derive(Debug, Args)]
pub struct BenchHeadArgs {
    #[command(flatten)]
    pub common: BenchCommon,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run config, e.g. configs/demo.toml (not with --resume, which uses the run's own).
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run config, e.g. configs/compare-demo.toml; its `[compare]` table is optional (not
    /// with --resume).
    #[arg(required_unless_present = "resume")]
    pub config: Option<PathBuf>,
    /// Heads to compare, comma-separated (default: the config's `compare.heads`, else
    /// softmax,normface,sphereface,cosface,arcface).
    #[arg(long, value_delimiter = ',', value_name = "HEAD,HEAD,...", value_parser = crate::config::parse_head)]
    pub heads: Option<Vec<crate::config::HeadKind>>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How `train` and `compare` run. For `compare`, `--out` is the comparison folder and each
/// head's run goes into a sub-folder named after the head.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Continue the interrupted (or finished, with --epochs) run in DIR from its last finished
    /// epoch, with the config it was trained with; for `compare`, every head not finished yet.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out", "overwrite"])]
    pub resume: Option<PathBuf>,
    /// Override the number of epochs (same as --set train.epochs=N); with --resume, train to
    /// N epochs (extends a finished run).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Folder to write (default: <out_dir>/<name> from the config).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Backend to train on; `auto` takes the best compiled-in one that works here.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Override a config key, e.g. --set model.margin=0.3 --set data.root=/data/celeba (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Replace a run (or comparison) already in the folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Train only; draw later with `arcface-lab render DIR`.
    #[arg(long)]
    pub no_render: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A run folder written by `train` (e.g. runs/demo) or a comparison folder written by
    /// `compare` (e.g. runs/compare-demo).
    pub run_dir: PathBuf,
    /// Height of each frame, pixels (default: the run's render.size; frames with the sphere's
    /// map are twice as wide); for a comparison folder, the width of the grid of square tiles
    /// (default: its compare.size).
    #[arg(long)]
    pub size: Option<u32>,
    /// How 3-D frames show the sphere: globe, map (equal-area, the whole sphere) or both
    /// (default: the run's render.projection).
    #[arg(long, value_parser = parse_projection)]
    pub projection: Option<viz::Projection>,
}

/// `--projection NAME`, by viz's own names.
fn parse_projection(name: &str) -> Result<viz::Projection, String> {
    name.parse()
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A run folder written by `train`.
    pub run_dir: PathBuf,
    /// Which checkpoint: `best` (lowest validation loss) or `last`.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    pub checkpoint: String,
    /// Backend to embed on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// A run folder written by `train`.
    pub run_dir: PathBuf,
    /// Image files and folders (searched recursively for .jpg, .jpeg, .png, .pgm, .ppm, .bmp).
    #[arg(required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Which checkpoint: `best` (lowest validation loss) or `last`.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    pub checkpoint: String,
    /// Write FILE.npy (float32 [N, D], with the files in FILE.files.txt) or FILE.csv instead
    /// of CSV on stdout; an existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Leave out images that do not decode, with a warning each (default: an error).
    #[arg(long)]
    pub skip_bad: bool,
    /// Backend to embed on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A run folder written by `train`.
    pub run_dir: PathBuf,
    /// The first image file.
    pub a: PathBuf,
    /// The second image file.
    pub b: PathBuf,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Print one JSON line: similarity, threshold, same, far, source.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdentifyArgs {
    /// A run folder written by `train`.
    pub run_dir: PathBuf,
    /// The gallery: one folder per identity, named after it, holding its images.
    #[arg(long, value_name = "DIR")]
    pub gallery: PathBuf,
    /// Query image files and folders (searched recursively).
    #[arg(required = true, num_args = 1..)]
    pub queries: Vec<PathBuf>,
    /// Identities listed per query.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// An identity's score: the best (`max`) or the `mean` cosine of its gallery images.
    #[arg(long, default_value = "max", value_parser = ["max", "mean"])]
    pub score: String,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Print one JSON line per query: query, identity (null when unknown), matches, threshold.
    #[arg(long)]
    pub json: bool,
}

/// How `verify` and `identify` score images: the checkpoint that embeds them, and the cosine
/// threshold below which two are of different identities (a query "unknown").
#[derive(Debug, Args)]
pub struct ScoringArgs {
    /// The operating point of the threshold from eval.json: a false accept rate, or the equal
    /// error rate.
    #[arg(long, default_value = "1e-2", value_parser = FAR_CHOICES)]
    pub far: String,
    /// A cosine threshold of your own instead of eval.json's.
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Which checkpoint: `best` (lowest validation loss) or `last`.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    pub checkpoint: String,
    /// Backend to embed on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// A run folder written by `train` or a comparison folder written by `compare`.
    pub dir: PathBuf,
    /// The page to write (default: DIR/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Side of the image thumbnails shown on hover, pixels (at most the images' own); 0 for none.
    #[arg(long, default_value_t = crate::view::DEFAULT_THUMB_SIZE)]
    pub thumb_size: u32,
    /// At most this many thumbnails; beyond it every k-th image of each split gets one.
    #[arg(long, default_value_t = crate::view::DEFAULT_MAX_THUMBS)]
    pub max_thumbs: usize,
    /// Open the page in the default browser afterwards.
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run folder written by `train`.
    pub run_dir: PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Epoch to export for csv and projector (default: the best epoch); npz holds all epochs.
    #[arg(long)]
    pub epoch: Option<usize>,
    /// Folder to write into (default: RUN_DIR/export).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// onnx and safetensors: which checkpoint, `best` (lowest validation loss) or `last`.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    pub checkpoint: String,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// `epoch_NNN.csv`: split, index, label, class, file, e0, e1, ...
    Csv,
    /// `projector-epoch_NNN/{tensors,metadata}.tsv` for projector.tensorflow.org / TensorBoard.
    Projector,
    /// `embeddings.npz`: every epoch's train, val and centre arrays and the labels.
    Npz,
    /// `model.onnx` (opset 17): the checkpoint's network, pixels in [0, 1] to embeddings.
    Onnx,
    /// `model.safetensors`: the checkpoint's backbone weights under PyTorch-style names.
    Safetensors,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder to create; it gets img_align_celeba/, identity_CelebA.txt and list_eval_partition.txt.
    pub out_dir: PathBuf,
    /// Number of identities.
    #[arg(long, default_value_t = 8)]
    pub identities: usize,
    /// More identities after those, every image in the test partition (2): data.held_out_identities.
    #[arg(long, default_value_t = 0)]
    pub held_out_identities: usize,
    /// Images per identity.
    #[arg(long, default_value_t = 60)]
    pub images_per_identity: usize,
    /// Side of the square images, pixels.
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Generator seed: the same seed writes the same files.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}
