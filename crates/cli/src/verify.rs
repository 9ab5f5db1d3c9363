//! `arcface-lab verify`: are two images of one identity? The cosine similarity of their
//! embeddings against a threshold `eval` measured on the run's own pairs (`eval.json`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::args::{FAR_CHOICES, ScoringArgs};
use crate::checkpoint::load_model;
use crate::device::DeviceChoice;
use crate::embed;

/// A threshold and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Threshold {
    pub value: f64,
    /// The false accept rate it was measured at (the EER itself for `eer`); none for a
    /// user's threshold.
    far: Option<f64>,
    /// `held_out`, `val` or `user`.
    pub source: &'static str,
    /// `eer` or the FAR as given.
    point: String,
    /// Different-identity pairs it was measured on.
    negatives: Option<u64>,
}

/// `arcface-lab verify`.
pub fn verify(args: &crate::args::VerifyArgs) -> Result<()> {
    let (run_dir, a, b) = (args.run_dir.as_path(), args.a.as_path(), args.b.as_path());
    for path in [a, b] {
        if !path.is_file() {
            bail!(
                "{}: no such image file (verify compares two image files)",
                path.display()
            );
        }
    }
    let scoring = &args.scoring;
    let threshold = self::threshold(run_dir, scoring)?;
    let model = load_model(run_dir, &scoring.checkpoint, scoring.device)?;
    let files: Vec<PathBuf> = vec![a.to_path_buf(), b.to_path_buf()];
    let (rows, _) = embed::embed_files(&model, &files, false)?;
    let (ra, rb) = rows.split_at(model.dim);
    let similarity = cosine(ra, rb);
    let same = similarity >= threshold.value;
    if args.json {
        let line = serde_json::json!({
            "similarity": similarity,
            "threshold": threshold.value,
            "same": same,
            "far": threshold.far,
            "source": threshold.source,
        });
        println!("{line}");
        return Ok(());
    }
    println!("similarity {similarity:.4} (cosine of the two embeddings)");
    println!(
        "threshold  {:.4} ({})",
        threshold.value,
        describe(&threshold)
    );
    println!(
        "decision   {}",
        if same {
            "same identity"
        } else {
            "different identities"
        }
    );
    if let Some(meaning) = meaning(&threshold) {
        println!("{meaning}");
    }
    Ok(())
}

/// The threshold `verify` and `identify` use: the user's, else eval.json's at the operating
/// point (of the checkpoint that scores, evaluated first when needed).
pub(crate) fn threshold(run_dir: &Path, scoring: &ScoringArgs) -> Result<Threshold> {
    Ok(match scoring.threshold {
        Some(t) => {
            if !t.is_finite() {
                bail!("--threshold {t}: expected a finite cosine similarity");
            }
            Threshold {
                value: t,
                far: None,
                source: "user",
                point: "user".into(),
                negatives: None,
            }
        }
        None => from_eval(run_dir, &scoring.far, &scoring.checkpoint, scoring.device)?,
    })
}

pub(crate) fn describe(t: &Threshold) -> String {
    match t.source {
        "user" => "--threshold".into(),
        source => {
            let set = if source == "held_out" {
                "held-out"
            } else {
                "validation"
            };
            if t.point == "eer" {
                format!("at the equal error rate of the {set} pairs, eval.json")
            } else {
                format!("at FAR {} of the {set} pairs, eval.json", t.point)
            }
        }
    }
}

/// What the threshold means, in a sentence.
fn meaning(t: &Threshold) -> Option<String> {
    let far = t.far?;
    let set = if t.source == "held_out" {
        "held-out"
    } else {
        "validation"
    };
    let pairs = t
        .negatives
        .map(|n| format!(" ({n} pairs)"))
        .unwrap_or_default();
    Some(if t.point == "eer" {
        format!(
            "at this threshold about {:.1}% of the different-identity pairs of the {set} set{pairs} were accepted, and about as many same-identity pairs rejected (the equal error rate)",
            100.0 * far
        )
    } else {
        format!(
            "at this threshold at most {:.1}% of the different-identity pairs of the {set} set{pairs} were accepted",
            100.0 * far
        )
    })
}

/// Cosine similarity in f64, as `eval` scores pairs; 0 when either row is zero.
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

/// The threshold at `far` from the run's `eval.json` (held-out pairs when it has them, else
/// validation), running `eval` first when the file is missing, was written for another
/// checkpoint, or predates thresholds.
fn from_eval(
    run_dir: &Path,
    far: &str,
    checkpoint: &str,
    choice: DeviceChoice,
) -> Result<Threshold> {
    let key = match far {
        "1e-1" => "threshold_at_far_1e1",
        "1e-2" => "threshold_at_far_1e2",
        "1e-3" => "threshold_at_far_1e3",
        "eer" => "threshold_at_eer",
        other => bail!("--far {other}: expected one of {}", FAR_CHOICES.join(", ")),
    };
    let path = run_dir.join(run_folder::layout::EVAL);
    let mut eval = read_eval(&path)?;
    let stale = match &eval {
        None => Some(format!("{} is missing", path.display())),
        Some(v) if v["checkpoint"] != checkpoint => Some(format!(
            "{} is of the {} checkpoint",
            path.display(),
            v["checkpoint"]
        )),
        Some(v) if v["val"].get(key).is_none() => {
            Some(format!("{} predates the thresholds", path.display()))
        }
        Some(_) => None,
    };
    if let Some(why) = stale {
        eprintln!("note: {why}: evaluating the {checkpoint} checkpoint first");
        crate::eval::eval(run_dir, checkpoint, choice)?;
        eval = read_eval(&path)?;
    }
    let eval = eval.with_context(|| format!("{} was not written", path.display()))?;
    let (source, report) = if eval["held_out"].is_object() {
        ("held_out", &eval["held_out"])
    } else {
        ("val", &eval["val"])
    };
    let value = report[key].as_f64().with_context(|| {
        format!(
            "{}: {source}.{key} is not a number (too few pairs of both kinds to set a threshold?)",
            path.display()
        )
    })?;
    let far_value = match far {
        "eer" => report["eer"].as_f64(),
        "1e-1" => Some(1e-1),
        "1e-2" => Some(1e-2),
        _ => Some(1e-3),
    };
    Ok(Threshold {
        value,
        far: far_value,
        source,
        point: far.to_owned(),
        negatives: report["negative_pairs"].as_u64(),
    })
}

fn read_eval(path: &Path) -> Result<Option<Value>> {
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an eval.json written by arcface-lab",
            path.display()
        )
    })?;
    if !value["val"].is_object() {
        bail!(
            "{}: expected an eval.json written by arcface-lab (no \"val\" report)",
            path.display()
        );
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_by_hand() {
        // (3, 4) and (4, 3): 24 / 25.
        assert!((cosine(&[3.0, 4.0], &[4.0, 3.0]) - 0.96).abs() < 1e-15);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }
}
