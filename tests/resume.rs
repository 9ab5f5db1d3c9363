//! Interruptions of every kind and `--resume`: kill -9 at a random moment, SIGINT, SIGTERM, a
//! second SIGINT, a stale `running`, the lock, what `--resume` refuses, and the comparison.
//! The reference is always an uninterrupted run of the same config: with one loader thread
//! a resumed run must end bit-identical to it (every column of metrics.csv but `seconds`,
//! every `.npy`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// 6 identities x 40 images of 16x16 (180 training images, 23 steps an epoch at batch 8):
/// long enough for a kill to land inside an epoch, short enough for a test.
fn resume_config(dir: &Path, name: &str, epochs: usize) -> PathBuf {
    let path = synthetic_config(dir, name, 2, epochs, "arcface");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("identities = 4\n", "identities = 6\n")
        .replace("images_per_identity = 12\n", "images_per_identity = 40\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `arcface-lab args...` in `cwd` without waiting.
fn spawn(cwd: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_arcface-lab"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", cwd.join(".cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the arcface-lab binary starts")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {}", child.id());
}

fn state(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap()
}

/// Waits until the run has finished at least `epochs` epochs (or the process ended).
fn wait_for_epochs(child: &mut Child, run: &Path, epochs: u64) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(300) {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        if run.join("run.json").exists()
            && std::fs::read_to_string(run.join("run.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|s| s["epochs_done"].as_u64().unwrap_or(0) >= epochs)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the run did not reach epoch {epochs} in 300 s");
}

/// Everything a resumed run must reproduce: metrics.csv without `seconds`, and every `.npy`.
fn outcome(run: &Path) -> (Vec<String>, BTreeMap<String, Vec<u8>>) {
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let seconds = header.iter().position(|h| *h == "seconds").unwrap();
    let rows = metrics
        .lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != seconds)
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let mut arrays = BTreeMap::new();
    let mut stack = vec![run.join("embeddings")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "npy") {
                let key = path.strip_prefix(run).unwrap().display().to_string();
                arrays.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    (rows, arrays)
}

fn assert_same_outcome(reference: &Path, resumed: &Path, what: &str) {
    let (rows_a, arrays_a) = outcome(reference);
    let (rows_b, arrays_b) = outcome(resumed);
    assert_eq!(
        rows_a, rows_b,
        "{what}: metrics.csv (without seconds) differs"
    );
    assert_eq!(
        arrays_a.keys().collect::<Vec<_>>(),
        arrays_b.keys().collect::<Vec<_>>(),
        "{what}: the same .npy files"
    );
    for (name, bytes) in &arrays_a {
        assert!(arrays_b[name] == *bytes, "{what}: {name} differs");
    }
}

/// A seed from the clock, printed so that a failure can be replayed by hand.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos)
}

/// `train --resume OUT` on the CPU, drawing nothing; asserts success.
fn resume_run(dir: &Path, out: &str) {
    ok(&run(
        dir,
        &["train", "--resume", out, "--device", "flex", "--no-render"],
    ));
}

/// The uninterrupted reference run `runs/<name>` of `epochs` epochs.
fn reference(dir: &Path, config: &Path, name: &str) -> PathBuf {
    let out = format!("runs/{name}");
    ok(&run(dir, &train_args(config, &["--out", &out])));
    dir.join(out)
}

#[test]
fn kill_9_at_a_random_moment_then_resume_ends_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "k", 4);
    let reference = reference(dir, &config, "reference");

    let seed = random_seed();
    // A random epoch (1..=3) to reach, then a random delay inside the next one.
    let epoch = 1 + seed % 3;
    let delay_ms = (seed / 3) % 400;
    eprintln!("kill -9 after epoch {epoch} + {delay_ms} ms (seed {seed})");
    let out = "runs/killed";
    let mut child = spawn(dir, &train_args(&config, &["--out", out]));
    let run_dir = dir.join(out);
    wait_for_epochs(&mut child, &run_dir, epoch);
    std::thread::sleep(Duration::from_millis(delay_ms));
    signal(&child, "KILL");
    let _ = child.wait();

    // The stale `running` is reported as interrupted, and a new train refuses the folder.
    let refused = fails(&run(dir, &train_args(&config, &["--out", out])));
    if state(&run_dir)["status"] != "finished" {
        assert!(
            refused.contains("interrupted") && refused.contains("--resume"),
            "a dead run is interrupted, not running:\n{refused}"
        );
        resume_run(dir, out);
    }
    assert_eq!(state(&run_dir)["status"], "finished");
    assert_same_outcome(&reference, &run_dir, &format!("kill -9 (seed {seed})"));
}

#[test]
fn sigint_and_sigterm_stop_after_the_step_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "s", 3);
    let reference = reference(dir, &config, "reference");

    for (name, code) in [("INT", 130), ("TERM", 143)] {
        let out = format!("runs/{name}");
        let mut child = spawn(dir, &train_args(&config, &["--out", &out]));
        let run_dir = dir.join(&out);
        wait_for_epochs(&mut child, &run_dir, 1);
        std::thread::sleep(Duration::from_millis(50));
        signal(&child, name);
        let output = child.wait_with_output().unwrap();
        let text = text(&output);
        if state(&run_dir)["status"] == "finished" {
            // The signal came after the last epoch: nothing to interrupt (rare).
            continue;
        }
        assert_eq!(output.status.code(), Some(code), "SIG{name}:\n{text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(
            text.contains(&format!("arcface-lab train --resume {out}")),
            "says how to resume:\n{text}"
        );
        assert_eq!(state(&run_dir)["status"], "interrupted", "SIG{name}");
        resume_run(dir, &out);
        assert_same_outcome(&reference, &run_dir, &format!("SIG{name}"));
    }
}

#[test]
fn a_second_sigint_ends_the_process_at_once_and_the_run_still_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "twice", 3);
    let reference = reference(dir, &config, "reference");
    let out = "runs/twice";
    let mut child = spawn(dir, &train_args(&config, &["--out", out]));
    let run_dir = dir.join(out);
    wait_for_epochs(&mut child, &run_dir, 1);
    signal(&child, "INT");
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    if state(&run_dir)["status"] == "finished" {
        return;
    }
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    resume_run(dir, out);
    assert_same_outcome(&reference, &run_dir, "two SIGINTs");
}

#[test]
fn a_finished_run_extends_with_epochs_as_if_trained_that_long() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "ext", 4);
    let reference = reference(dir, &config, "reference");
    let out = "runs/short";
    let mut args = train_args(&config, &["--out", out]);
    args.extend(["--epochs", "2"]);
    ok(&run(dir, &args));
    // Nothing left to train: said, not silently done.
    let t = fails(&run(dir, &["train", "--resume", out, "--no-render"]));
    assert!(t.contains("all 2 epochs") && t.contains("--epochs"), "{t}");
    let t = fails(&run(dir, &["train", "--resume", out, "--epochs", "1"]));
    assert!(t.contains("already trained 2 epochs"), "{t}");
    ok(&run(
        dir,
        &[
            "train",
            "--resume",
            out,
            "--epochs",
            "4",
            "--device",
            "flex",
            "--no-render",
        ],
    ));
    assert_eq!(state(&dir.join(out))["epochs_done"], 4);
    assert_same_outcome(&reference, &dir.join(out), "extended from 2 to 4 epochs");
}

#[test]
fn resume_refuses_what_would_change_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "r", 2, 2, "arcface");
    let out = "runs/r";
    let mut args = train_args(&config, &["--out", out]);
    args.extend(["--epochs", "1"]);
    ok(&run(dir, &args));
    let run_dir = dir.join(out);
    let before = std::fs::read(run_dir.join("run.json")).unwrap();

    let t = fails(&run(
        dir,
        &[
            "train",
            "--resume",
            out,
            "--epochs",
            "2",
            "--set",
            "model.margin=0.1",
        ],
    ));
    assert!(
        t.contains("model.margin") && t.contains("train.epochs") && t.contains("render.*"),
        "names the key and the keys that may change:\n{t}"
    );
    let t = fails(&run(dir, &["train", "--resume", "runs/none"]));
    assert!(t.contains("runs/none") && t.contains("no run.json"), "{t}");
    let t = fails(&run(
        dir,
        &["train", config.to_str().unwrap(), "--resume", out],
    ));
    assert!(
        t.contains("cannot be used with"),
        "clap refuses a config with --resume:\n{t}"
    );

    // An image the run used changed since: named, and nothing is trained.
    let image = std::fs::read_dir(dir.join("faces/img_align_celeba"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&image).unwrap();
    bytes.extend_from_slice(b"\0\0");
    std::fs::write(&image, &bytes).unwrap();
    let t = fails(&run(
        dir,
        &[
            "train", "--resume", out, "--epochs", "2", "--device", "flex",
        ],
    ));
    let name = image.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        t.contains(&name) && t.contains("changed"),
        "names the changed image:\n{t}"
    );
    assert_eq!(
        std::fs::read(run_dir.join("run.json")).unwrap(),
        before,
        "run.json untouched"
    );
    // eval refuses the changed data too, naming the file.
    let t = fails(&run(dir, &["eval", out, "--device", "flex"]));
    assert!(t.contains(&name), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn a_run_in_progress_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "lock", 30);
    let out = "runs/lock";
    let mut child = spawn(dir, &train_args(&config, &["--out", out]));
    let run_dir = dir.join(out);
    wait_for_epochs(&mut child, &run_dir, 1);
    let t = fails(&run(dir, &["train", "--resume", out, "--device", "flex"]));
    assert!(
        t.contains("in use") && t.contains(&format!("pid {}", child.id())),
        "names the process holding the run:\n{t}"
    );
    let t = fails(&run(
        dir,
        &[
            "train",
            config.to_str().unwrap(),
            "--out",
            out,
            "--overwrite",
        ],
    ));
    assert!(
        t.contains("in use"),
        "--overwrite never replaces a live run:\n{t}"
    );
    signal(&child, "KILL");
    let _ = child.wait();
}

#[test]
fn compare_resume_keeps_finished_heads_and_finishes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "cmp", 2);
    let cfg = config.to_str().unwrap();
    ok(&run(
        dir,
        &[
            "compare",
            cfg,
            "--heads",
            "softmax,arcface",
            "--out",
            "runs/ref",
            "--device",
            "flex",
            "--no-render",
        ],
    ));
    let mut child = spawn(
        dir,
        &[
            "compare",
            cfg,
            "--heads",
            "softmax,arcface",
            "--out",
            "runs/cmp",
            "--device",
            "flex",
            "--no-render",
        ],
    );
    let second = dir.join("runs/cmp/arcface");
    wait_for_epochs(&mut child, &second, 1);
    signal(&child, "KILL");
    let _ = child.wait();
    let first_metrics = std::fs::read(dir.join("runs/cmp/softmax/metrics.csv")).unwrap();
    let t = ok(&run(
        dir,
        &[
            "compare",
            "--resume",
            "runs/cmp",
            "--device",
            "flex",
            "--no-render",
        ],
    ));
    assert!(
        t.contains("softmax: finished"),
        "the finished head is kept:\n{t}"
    );
    assert_eq!(
        std::fs::read(dir.join("runs/cmp/softmax/metrics.csv")).unwrap(),
        first_metrics,
        "and not retrained"
    );
    for head in ["softmax", "arcface"] {
        assert_same_outcome(
            &dir.join("runs/ref").join(head),
            &dir.join("runs/cmp").join(head),
            &format!("compare --resume, {head}"),
        );
    }
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/cmp/compare.json")).unwrap())
            .unwrap();
    assert_eq!(index["status"], "finished");
}

/// A folder set big enough that building its image cache takes a moment: `classes` folders of
/// `per_class` noisy 48x48 PNGs.
fn folder_set(root: &Path, classes: usize, per_class: usize) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for c in 0..classes {
        let dir = root.join(format!("person_{c:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(48, 48, |_, _| {
                // xorshift noise: PNG cannot compress it, so decoding takes real time.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let b = state.to_le_bytes();
                image::Rgb([b[0], b[1], b[2]])
            });
            img.save(dir.join(format!("{i:03}.png"))).unwrap();
        }
    }
}

fn cache_temporaries(cache: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".afc.tmp-") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_cache_build_killed_midway_is_cleaned_up_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    folder_set(&dir.join("people"), 8, 160);
    let config = dir.join("folder.toml");
    std::fs::write(
        &config,
        r#"name = "folder"
[data]
kind = "folder"
root = "people"
image_size = 32
[model]
embedding_dim = 2
[train]
epochs = 1
batch_size = 32
num_workers = 1
"#,
    )
    .unwrap();
    let cache = dir.join(".cache");
    let mut child = spawn(dir, &train_args(&config, &[]));
    // Kill it as soon as its temporary cache file exists.
    let started = Instant::now();
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if !cache_temporaries(&cache).is_empty() {
            signal(&child, "KILL");
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    if !killed {
        eprintln!("the cache build finished before it could be killed: nothing to check");
        return;
    }
    let left = cache_temporaries(&cache);
    assert!(!left.is_empty(), "kill -9 leaves the temporary file behind");
    assert!(
        !dir.join("runs/folder").exists(),
        "no run folder before the data is loaded"
    );
    let t = train_config(dir, &config);
    assert!(
        t.contains("removed a stale temporary cache file"),
        "the next run says it removed the leftover:\n{t}"
    );
    assert!(
        cache_temporaries(&cache).is_empty(),
        "{:?}",
        cache_temporaries(&cache)
    );
}

#[test]
fn sgd_with_a_cosine_schedule_and_warm_up_resumes_on_the_same_rates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = resume_config(dir, "sgd", 4);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "num_workers = 1\n",
        "num_workers = 1\nlr = 0.05\noptimizer = \"sgd\"\nmomentum = 0.9\nnesterov = true\nweight_decay = 5e-4\nschedule = \"cosine\"\nwarmup_epochs = 1\nclip_grad_norm = 10.0\n",
    );
    std::fs::write(&config, text).unwrap();
    let reference = reference(dir, &config, "reference");
    // 180 training images at batch 8: 23 steps an epoch. Each epoch's first step: the warm-up's
    // 0.05 / 23, then the cosine over the 3 epochs after it at u = 0, 1/3, 2/3:
    // 0.025 (1 + cos(pi u)) = 0.05, 0.0375, 0.0125.
    let lr = metric(&reference, "lr");
    let want = [0.05 / 23.0, 0.05, 0.0375, 0.0125];
    assert_eq!(lr.len(), 4);
    for (got, want) in lr.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{lr:?}");
    }

    // An epoch takes about 0.1 s here: a kill within 40 ms of epoch 1's end lands before the
    // last one, and the resume has the schedule's record to continue from.
    let seed = random_seed();
    let delay_ms = seed % 40;
    eprintln!("kill -9 after epoch 1 + {delay_ms} ms (seed {seed})");
    let out = "runs/killed";
    let mut child = spawn(dir, &train_args(&config, &["--out", out]));
    let run_dir = dir.join(out);
    wait_for_epochs(&mut child, &run_dir, 1);
    std::thread::sleep(Duration::from_millis(delay_ms));
    signal(&child, "KILL");
    let _ = child.wait();
    assert_ne!(
        state(&run_dir)["status"],
        "finished",
        "the kill came too late to test the resume"
    );
    resume_run(dir, out);
    assert_eq!(state(&run_dir)["status"], "finished");
    assert_same_outcome(
        &reference,
        &run_dir,
        &format!("sgd + cosine, kill -9 (seed {seed})"),
    );
}
