//! Generates the default synthetic face set and writes a contact sheet (one row per
//! identity) to look at: `cargo run --release -p celeba-data --example synth_preview -- <dir>`.

use std::path::PathBuf;
use std::time::Instant;

use celeba_data::{DataConfig, SynthSpec, SyntheticConfig, generate_synthetic, load};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "synth-preview".to_owned()),
    );
    let defaults = SyntheticConfig::new(out.join("set"));
    let spec = SynthSpec {
        identities: defaults.identities,
        held_out_identities: defaults.held_out_identities,
        images_per_identity: defaults.images_per_identity,
        image_size: defaults.image_size,
        seed: defaults.generator_seed,
    };
    if out.join("set").exists() {
        std::fs::remove_dir_all(out.join("set"))?;
    }
    let start = Instant::now();
    generate_synthetic(&out.join("set"), &spec)?;
    println!(
        "generated {} images in {:?}",
        spec.identities * spec.images_per_identity,
        start.elapsed()
    );

    let start = Instant::now();
    let data = load(&DataConfig::Synthetic(defaults), 1)?;
    println!("loaded in {:?}", start.elapsed());

    let [c, h, w] = data.shape;
    let store = data.train.store();
    let columns = 12;
    let rows = data.classes.len();
    let mut sheet = image::RgbImage::new((columns * w) as u32, (rows * h) as u32);
    let mut filled = vec![0usize; rows];
    for i in 0..store.len() {
        let class = store.label(i) as usize;
        if filled[class] == columns {
            continue;
        }
        let pixels = store.pixels(i);
        for y in 0..h {
            for x in 0..w {
                let at = |ch: usize| pixels[(ch.min(c - 1)) * h * w + y * w + x];
                sheet.put_pixel(
                    (filled[class] * w + x) as u32,
                    (class * h + y) as u32,
                    image::Rgb([at(0), at(1), at(2)]),
                );
            }
        }
        filled[class] += 1;
    }
    let sheet = image::imageops::resize(
        &sheet,
        sheet.width() * 3,
        sheet.height() * 3,
        image::imageops::FilterType::Nearest,
    );
    sheet.save(out.join("sheet.png"))?;
    println!("wrote {}", out.join("sheet.png").display());
    Ok(())
}
