//! The built-in synthetic face set, written in CelebA layout so it loads through the same
//! code as the real thing.

mod draw;
mod face;

use std::fmt::Write as _;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::catalog::{IDENTITY_FILE, IMAGE_DIR};
use crate::config::{DataConfig, SyntheticConfig};
use crate::error::DataError;
use face::{Identity, Strata};

const MANIFEST_FILE: &str = "synth.json";
const PARTITION_FILE: &str = "list_eval_partition.txt";
const JPEG_QUALITY: u8 = 90;
/// Bumped whenever the drawing changes, so a cached set from an older generator is noticed.
const GENERATOR_VERSION: u32 = 1;
/// Keeps the partition draws independent of the drawing draws made from the same seed.
const PARTITION_SALT: u64 = 0x9E37_79B9_7F4A_7C15;
/// Keeps the held-out identities' strata independent of the training identities' ones.
const HELD_OUT_SALT: u64 = 0x4845_4c44_5359_4e54;

/// What to generate; the same spec always produces byte-identical files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthSpec {
    /// Training identities: ids `1..=identities`.
    pub identities: usize,
    /// Identities after those, `identities + 1 ..= identities + held_out_identities`, drawn
    /// from their own seeded strata so that adding them leaves the first `identities`
    /// byte-identical; meant for open-set evaluation (all their images are in the test
    /// partition, 2). Absent from manifests written before it existed: 0.
    #[serde(default)]
    pub held_out_identities: usize,
    pub images_per_identity: usize,
    /// Side of the square images in pixels.
    pub image_size: usize,
    pub seed: u64,
}

impl SynthSpec {
    /// Every identity, training and held out.
    pub fn total_identities(&self) -> usize {
        self.identities.saturating_add(self.held_out_identities)
    }

    fn of(config: &SyntheticConfig) -> Self {
        Self {
            identities: config.identities,
            held_out_identities: config.held_out_identities,
            images_per_identity: config.images_per_identity,
            image_size: config.image_size,
            seed: config.generator_seed,
        }
    }

    fn as_config(&self, root: &Path) -> DataConfig {
        DataConfig::Synthetic(SyntheticConfig {
            root: root.to_owned(),
            identities: self.identities,
            held_out_identities: self.held_out_identities,
            images_per_identity: self.images_per_identity,
            image_size: self.image_size,
            generator_seed: self.seed,
            val_fraction: 0.0,
            augment: None,
        })
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    generator: String,
    version: u32,
    spec: SynthSpec,
}

impl Manifest {
    fn new(spec: SynthSpec) -> Self {
        Self {
            generator: "arcface-lab synthetic faces".to_owned(),
            version: GENERATOR_VERSION,
            spec,
        }
    }
}

/// Writes the synthetic face set in CelebA layout into `out_dir`:
/// `img_align_celeba/000001.jpg ...` (identity 1's images first, then identity 2's, ...),
/// `identity_CelebA.txt` (ids `1..=identities + held_out_identities`),
/// `list_eval_partition.txt` (a seeded 80/10/10 train/val/test split of each training
/// identity, 0/1/2 as in CelebA; every image of a held-out identity is 2) and `synth.json`
/// (the spec). The identity file is written last, so its presence marks a complete set.
pub fn generate_synthetic(out_dir: &Path, spec: &SynthSpec) -> Result<(), DataError> {
    write_set(out_dir, spec, 0, 0)
}

/// Draws the people of a set: the training identities from strata over their own count
/// (exactly as before held-out identities existed), then the held-out ones from strata of
/// their own, so that the training identities do not depend on how many are held out.
fn people(spec: &SynthSpec) -> Vec<Identity> {
    let mut strata_rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let strata = Strata::new(spec.identities, &mut strata_rng);
    let mut held_rng = ChaCha8Rng::seed_from_u64(spec.seed ^ HELD_OUT_SALT);
    let held_strata = Strata::new(spec.held_out_identities, &mut held_rng);
    (0..spec.total_identities())
        .map(|index| {
            let mut rng = stream(spec.seed, index, None);
            match index.checked_sub(spec.identities) {
                None => Identity::sample(index, spec.identities, &strata, &mut rng),
                Some(held) => {
                    Identity::sample(held, spec.held_out_identities, &held_strata, &mut rng)
                }
            }
        })
        .collect()
}

/// Writes the images of persons `from_person..` (the earlier ones are already there and
/// identical), removes images numbered past the set that an earlier, larger set
/// (`old_images`) left, then the text files, the identity file last.
fn write_set(
    out_dir: &Path,
    spec: &SynthSpec,
    from_person: usize,
    old_images: usize,
) -> Result<(), DataError> {
    spec.as_config(out_dir).validate()?;
    let image_dir = out_dir.join(IMAGE_DIR);
    std::fs::create_dir_all(&image_dir)
        .map_err(|e| DataError::io("create folder", &image_dir, e))?;

    let people = people(spec);
    let total = spec.total_identities() * spec.images_per_identity;
    let jobs: Vec<usize> = (from_person * spec.images_per_identity..total).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(jobs.len())
        .max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(jobs.len().div_ceil(threads).max(1))
            .map(|chunk| {
                let (people, image_dir) = (&people, &image_dir);
                scope.spawn(move || {
                    for &job in chunk {
                        let (person, shot) = (
                            job / spec.images_per_identity,
                            job % spec.images_per_identity,
                        );
                        let mut rng = stream(spec.seed, person, Some(shot));
                        let rgb = face::render(&people[person], spec.image_size, &mut rng);
                        write_jpeg(&image_dir.join(file_name(job)), &rgb, spec.image_size)?;
                    }
                    Ok(())
                })
            })
            .collect();
        let results: Vec<Result<(), DataError>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        results.into_iter().collect::<Result<(), DataError>>()
    })?;
    for job in total..old_images {
        let path = image_dir.join(file_name(job));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DataError::io("remove", &path, e)),
        }
    }

    write_text(&out_dir.join(PARTITION_FILE), &partition_text(spec))?;
    let manifest =
        serde_json::to_string_pretty(&Manifest::new(*spec)).map_err(|e| DataError::Io {
            action: "serialise",
            path: out_dir.join(MANIFEST_FILE),
            source: std::io::Error::other(e),
        })?;
    write_text(&out_dir.join(MANIFEST_FILE), &(manifest + "\n"))?;

    let mut identities = String::with_capacity(total * 16);
    for job in 0..total {
        let _ = writeln!(
            identities,
            "{} {}",
            file_name(job),
            job / spec.images_per_identity + 1
        );
    }
    write_text(&out_dir.join(IDENTITY_FILE), &identities)
}

/// Generates the set a config describes into its `root` unless it is already there, and
/// refuses a folder holding a set generated from a different spec. A set that differs only in
/// its held-out identities is brought to the requested count in place (the training
/// identities' files are the same either way); the returned note says so.
pub(crate) fn ensure_synthetic(config: &SyntheticConfig) -> Result<Option<String>, DataError> {
    let root = &config.root;
    let spec = SynthSpec::of(config);
    if !root.join(IDENTITY_FILE).is_file() {
        return generate_synthetic(root, &spec).map(|()| None);
    }
    let manifest_path = root.join(MANIFEST_FILE);
    let expected = Manifest::new(spec);
    let mismatch = |found: String| DataError::SynthMismatch {
        path: manifest_path.clone(),
        dir: root.clone(),
        expected: describe_manifest(&expected),
        found,
    };
    let text = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(mismatch("no manifest: not a generated set".to_owned()));
        }
        Err(e) => return Err(DataError::io("read", &manifest_path, e)),
    };
    let found: Manifest = serde_json::from_str(&text)
        .map_err(|e| mismatch(format!("an unreadable manifest: {e}")))?;
    if found == expected {
        return Ok(None);
    }
    let same_training_set = Manifest::new(SynthSpec {
        held_out_identities: spec.held_out_identities,
        ..found.spec
    }) == expected
        && found.generator == expected.generator;
    if !same_training_set || found.spec.as_config(root).validate().is_err() {
        return Err(mismatch(describe_manifest(&found)));
    }
    // Without the identity file the folder reads as incomplete until the rewrite is done, so
    // an interrupted update is regenerated in full next time, never used half-written.
    let identity_file = root.join(IDENTITY_FILE);
    std::fs::remove_file(&identity_file).map_err(|e| DataError::io("remove", &identity_file, e))?;
    let old_images = found.spec.total_identities() * found.spec.images_per_identity;
    write_set(root, &spec, spec.identities, old_images)?;
    Ok(Some(format!(
        "{} held {} held-out synthetic identities; generated the set again with the {} the \
         config asks for (the {} training identities are unchanged)",
        root.display(),
        found.spec.held_out_identities,
        spec.held_out_identities,
        spec.identities
    )))
}

fn describe_manifest(manifest: &Manifest) -> String {
    let s = &manifest.spec;
    format!(
        "{} identities (+ {} held out) x {} images, {}px, seed {}, generator v{}",
        s.identities,
        s.held_out_identities,
        s.images_per_identity,
        s.image_size,
        s.seed,
        manifest.version
    )
}

/// The RNG for one identity's traits (`shot` = None) or for one of its images; every stream
/// is independent, so images can be drawn in any order, on any thread.
fn stream(seed: u64, person: usize, shot: Option<usize>) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shot_part = shot.map_or(0, |s| s as u64 + 1);
    rng.set_stream(((person as u64 + 1) << 32) | shot_part);
    rng
}

fn file_name(job: usize) -> String {
    format!("{:06}.jpg", job + 1)
}

fn write_jpeg(path: &Path, rgb: &[u8], side: usize) -> Result<(), DataError> {
    let mut bytes = Vec::new();
    let side = side as u32;
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .write_image(rgb, side, side, ExtendedColorType::Rgb8)
        .map_err(|source| DataError::Encode {
            path: path.to_owned(),
            source,
        })?;
    std::fs::write(path, bytes).map_err(|e| DataError::io("write", path, e))
}

fn write_text(path: &Path, text: &str) -> Result<(), DataError> {
    std::fs::write(path, text).map_err(|e| DataError::io("write", path, e))
}

/// `<file> <0|1|2>` per image: each training identity's images shuffled, then 80% train,
/// 10% val, the rest test; every image of a held-out identity is test (2).
fn partition_text(spec: &SynthSpec) -> String {
    let per = spec.images_per_identity;
    let mut part = vec![2u8; spec.total_identities() * per];
    let n_train = (per as f64 * 0.8).round() as usize;
    let n_val = ((per as f64 * 0.1).round() as usize).min(per - n_train);
    for person in 0..spec.identities {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ PARTITION_SALT);
        rng.set_stream(person as u64);
        let mut order: Vec<usize> = (0..per).collect();
        order.shuffle(&mut rng);
        for (rank, &shot) in order.iter().enumerate() {
            part[person * per + shot] = match rank {
                r if r < n_train => 0,
                r if r < n_train + n_val => 1,
                _ => 2,
            };
        }
    }
    let mut text = String::with_capacity(part.len() * 13);
    for (job, p) in part.iter().enumerate() {
        let _ = writeln!(text, "{} {p}", file_name(job));
    }
    text
}
