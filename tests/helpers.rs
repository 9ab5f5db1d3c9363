use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `args` in `cwd`.
/// The image cache goes into `cwd/.cache`, never into the user's own.
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arcface-lab"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", cwd.join(".cache"))
        .output()
        .expect("the arcface-lab binary runs")
}

/// stdout + stderr as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts success and returns the output text.
pub fn ok(out: &Output) -> String {
    let t = text(out);
    assert!(
        out.status.success(),
        "expected success, got {:?}:\n{t}",
        out.status
    );
    t
}

/// (width, height) of the complete GIF at `path`: its logical screen size (bytes 6..10 of the
/// header, little-endian).
pub fn gif_size(path: &Path) -> (u16, u16) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"GIF89a") && bytes.ends_with(&[0x3b]));
    (
        u16::from_le_bytes([bytes[6], bytes[7]]),
        u16::from_le_bytes([bytes[8], bytes[9]]),
    )
}

/// Asserts failure and returns the output text.
pub fn fails(out: &Output) -> String {
    let t = text(out);
    assert!(
        !out.status.success(),
        "expected a failure, got success:\n{t}"
    );
    t
}

/// A small synthetic-faces config: `identities` x `images` images of 16x16, `epochs` epochs.
pub fn synthetic_config(dir: &Path, name: &str, dim: usize, epochs: usize, head: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"
out_dir = "runs"
seed = 3

[data]
kind = "synthetic"
root = "faces"
identities = 4
images_per_identity = 12
image_size = 16
val_fraction = 0.25

[model]
embedding_dim = {dim}
head = "{head}"
scale = 10.0
margin = 0.3

[train]
epochs = {epochs}
batch_size = 8
num_workers = 1

[render]
size = 160
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `train CONFIG --device flex --no-render` then `extra`: a run on the CPU that draws nothing.
pub fn train_args<'a>(config: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        config.to_str().unwrap(),
        "--device",
        "flex",
        "--no-render",
    ];
    args.extend_from_slice(extra);
    args
}

/// Trains `config` in `dir` with [`train_args`]; asserts success and returns the output text.
pub fn train_config(dir: &Path, config: &Path) -> String {
    ok(&run(dir, &train_args(config, &[])))
}

/// Trains the [`synthetic_config`] ArcFace run `name` (`dim`-D, `epochs` epochs) with
/// [`train_config`]; returns its folder, `dir/runs/<name>`.
pub fn train_tiny(dir: &Path, name: &str, dim: usize, epochs: usize) -> PathBuf {
    train_config(dir, &synthetic_config(dir, name, dim, epochs, "arcface"));
    dir.join("runs").join(name)
}

/// [`synthetic_config`] with `held_out_identities` more identities generated for the held-out
/// split (ids 5, 6, ... after the 4 training identities), 12 images each like the others.
pub fn synthetic_held_out_config(
    dir: &Path,
    name: &str,
    epochs: usize,
    held_out_identities: usize,
) -> PathBuf {
    let path = synthetic_config(dir, name, 2, epochs, "arcface");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "identities = 4\n",
        &format!("identities = 4\nheld_out_identities = {held_out_identities}\n"),
    );
    assert!(text.contains("held_out_identities"), "{text}");
    std::fs::write(&path, text).unwrap();
    path
}

/// The run's validation images, in `splits.json` order, as paths relative to `dir`.
pub fn val_files(run_dir: &Path) -> Vec<String> {
    let splits: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("splits.json")).unwrap())
            .unwrap();
    splits
        .iter()
        .filter(|r| r["split"] == "val")
        .map(|r| format!("faces/img_align_celeba/{}", r["file"].as_str().unwrap()))
        .collect()
}

/// Column `name` of `run`'s metrics.csv, one value per epoch.
pub fn metric(run: &Path, name: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let column = lines
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    lines
        .map(|l| l.split(',').nth(column).unwrap().parse().unwrap())
        .collect()
}

/// Reads a `.npy` through the project's reader, whose header parsing viz tests against the
/// numpy format spec.
pub fn npy_f32(path: &Path) -> (Vec<f32>, Vec<usize>) {
    viz::read_npy_f32(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn npy_i64(path: &Path) -> (Vec<i64>, Vec<usize>) {
    viz::read_npy_i64(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `../shared/data/mnist` beside the project, if present.
pub fn shared_mnist() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    dir.join("t10k-images-idx3-ubyte.gz")
        .exists()
        .then_some(dir)
}

/// Everything under `dir`, recursively: each file with its bytes, each folder with `None`.
/// Comparing two of these shows whether anything was created, removed or changed.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut found = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                found.insert(relative, None);
                pending.push(path);
            } else {
                found.insert(relative, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    found
}

/// Asserts a refusal by the program itself: exit status 1 (an error, not 101 for a panic nor
/// 134 for an abort), and no panic or allocation failure in the output. Returns the output.
pub fn refused_cleanly(out: &Output) -> String {
    let t = text(out);
    assert_eq!(out.status.code(), Some(1), "expected exit status 1:\n{t}");
    for bad in ["panicked", "memory allocation of", "RUST_BACKTRACE"] {
        assert!(!t.contains(bad), "the output mentions {bad:?}:\n{t}");
    }
    assert!(t.contains("error: "), "no error line:\n{t}");
    t
}

/// A safetensors file as `name -> (shape, little-endian f32 bytes)`, after checking its layout
/// (u64 header length, JSON header, data): every tensor is F32, its bytes match its shape, and
/// the tensors cover the data exactly.
pub fn read_safetensors(path: &Path) -> std::collections::BTreeMap<String, (Vec<u64>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut covered = 0;
    let mut tensors = std::collections::BTreeMap::new();
    for (name, t) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        assert_eq!(t["dtype"], "F32", "{name}");
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let numel: u64 = shape.iter().product();
        let [a, b] = [0, 1].map(|i| t["data_offsets"][i].as_u64().unwrap() as usize);
        assert_eq!(b - a, 4 * numel as usize, "{name}");
        assert!(b <= data.len(), "{name}");
        covered += b - a;
        tensors.insert(name.clone(), (shape, data[a..b].to_vec()));
    }
    assert_eq!(covered, data.len());
    tensors
}
