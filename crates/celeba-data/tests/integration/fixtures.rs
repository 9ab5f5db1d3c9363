//! Small data set trees, written by the tests themselves.

use std::path::Path;

use celeba_data::{CelebaConfig, DataConfig, FolderConfig, HeldOut};
use image::{Rgb, RgbImage};

/// A distinct colour per image, so each loaded image can be traced back to its file.
pub fn colour(id: u32, k: usize) -> Rgb<u8> {
    Rgb([(id * 20) as u8, (30 + k * 10) as u8, 200])
}

/// A 6x10 PNG: red top and bottom rows, the centre 6x6 square in `c` (what a centre crop
/// keeps).
pub fn face_png(c: Rgb<u8>) -> RgbImage {
    RgbImage::from_fn(6, 10, |_, y| {
        if (2..8).contains(&y) {
            c
        } else {
            Rgb([255, 0, 0])
        }
    })
}

/// A real JPEG of a smooth gradient.
pub fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 5) as u8, (y * 4) as u8, 90]));
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    bytes
}

/// A CelebA-layout tree: `ids` lists (id, image count); files are numbered from 000001.png in
/// that order. Returns the file names per identity, in the same order.
pub fn celeba_tree(root: &Path, ids: &[(u32, usize)]) -> Vec<Vec<String>> {
    let dir = root.join("img_align_celeba");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    let mut out = Vec::new();
    let mut n = 1;
    for &(id, count) in ids {
        let mut names = Vec::new();
        for k in 0..count {
            let name = format!("{n:06}.png");
            face_png(colour(id, k)).save(dir.join(&name)).unwrap();
            lines.push_str(&format!("{name} {id}\n"));
            names.push(name);
            n += 1;
        }
        out.push(names);
    }
    std::fs::write(root.join("identity_CelebA.txt"), lines).unwrap();
    out
}

/// CelebA config with small images, nothing held out and no cache, for selection tests.
pub fn celeba(root: &Path) -> CelebaConfig {
    CelebaConfig {
        image_size: 8,
        held_out: HeldOut::None,
        cache: false,
        ..CelebaConfig::new(root)
    }
}

pub fn folder(root: &Path) -> FolderConfig {
    FolderConfig {
        image_size: 8,
        held_out: HeldOut::None,
        cache: false,
        ..FolderConfig::new(root)
    }
}

pub fn load_ok(cfg: DataConfig) -> celeba_data::LoadedData {
    celeba_data::load(&cfg, 5).unwrap()
}

pub fn load_err(cfg: DataConfig) -> String {
    match celeba_data::load(&cfg, 5) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}
