//! Augmentation: each operation against hand-worked pixels, and the seeding contract.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::Device;
use celeba_data::{
    AugmentConfig, AugmentParams, ImageBatcher, ImageStore, SplitDataset, augment_pixels,
};

const SQUARE: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

fn apply(params: AugmentParams, padding: usize, shape: [usize; 3], pixels: &[u8]) -> Vec<f32> {
    let mut out = Vec::new();
    augment_pixels(&params, padding, shape, pixels, &mut out);
    out
}

fn floats(v: &[u8]) -> Vec<f32> {
    v.iter().map(|&x| f32::from(x)).collect()
}

#[test]
fn crop_with_padding_and_flip_move_pixels_as_worked_by_hand() {
    let id = AugmentParams::identity(1);
    assert_eq!(apply(id, 1, [1, 3, 3], &SQUARE), floats(&SQUARE));
    // Window at the padded image's corner: everything moves one right and one down.
    let corner = AugmentParams { dx: 0, dy: 0, ..id };
    assert_eq!(
        apply(corner, 1, [1, 3, 3], &SQUARE),
        floats(&[0, 0, 0, 0, 1, 2, 0, 4, 5])
    );
    // ... then mirrored.
    let flipped = AugmentParams {
        flip: true,
        ..corner
    };
    assert_eq!(
        apply(flipped, 1, [1, 3, 3], &SQUARE),
        floats(&[0, 0, 0, 2, 1, 0, 5, 4, 0])
    );
    // Window at (2, 1): one left, no vertical move.
    let right = AugmentParams { dx: 2, dy: 1, ..id };
    assert_eq!(
        apply(right, 1, [1, 3, 3], &SQUARE),
        floats(&[2, 3, 0, 5, 6, 0, 8, 9, 0])
    );
    // Channels move together.
    let two: Vec<u8> = SQUARE.iter().chain(&SQUARE).map(|v| v * 10).collect();
    let out = apply(flipped, 1, [2, 3, 3], &two);
    assert_eq!(out[..9], out[9..]);
    assert_eq!(out[3..6], [20.0, 10.0, 0.0]);
}

#[test]
fn brightness_and_contrast_as_worked_by_hand() {
    let id = AugmentParams::identity(0);
    // x2: 100 -> 200, 200 -> 400 clamped to 255.
    let bright = AugmentParams {
        brightness: 2.0,
        ..id
    };
    assert_eq!(apply(bright, 0, [1, 1, 2], &[100, 200]), [200.0, 255.0]);
    // Contrast 0.5 around the mean 150: 100 -> 125, 200 -> 175.
    let flat = AugmentParams {
        contrast: 0.5,
        ..id
    };
    assert_eq!(apply(flat, 0, [1, 1, 2], &[100, 200]), [125.0, 175.0]);
    // Brightness first (x1.5: 150, 210, mean 180), then contrast x2: 120, 240.
    let both = AugmentParams {
        brightness: 1.5,
        contrast: 2.0,
        ..id
    };
    assert_eq!(apply(both, 0, [1, 1, 2], &[100, 140]), [120.0, 240.0]);
    // The mean is over all channels: 2 channels of one pixel, 0 and 100, mean 50; x3 gives
    // -100 (clamped to 0) and 200.
    let strong = AugmentParams {
        contrast: 3.0,
        ..id
    };
    assert_eq!(apply(strong, 0, [2, 1, 1], &[0, 100]), [0.0, 200.0]);
}

#[test]
fn draws_are_seeded_in_range_and_vary_by_epoch_and_item() {
    let cfg = AugmentConfig {
        horizontal_flip: true,
        crop_padding: 3,
        brightness: 0.2,
        contrast: 0.1,
    };
    let mut flips = 0;
    let mut shifts = std::collections::BTreeSet::new();
    for item in 0..2000 {
        let p = cfg.draw(7, 0, item);
        assert_eq!(p, cfg.draw(7, 0, item));
        assert!(p.dx <= 6 && p.dy <= 6);
        assert!((0.8..=1.2).contains(&p.brightness), "{p:?}");
        assert!((0.9..=1.1).contains(&p.contrast), "{p:?}");
        flips += usize::from(p.flip);
        shifts.insert((p.dx, p.dy));
    }
    // 2000 fair coin flips: 1000 +- 5 sigma (sigma = 22.4).
    assert!((888..=1112).contains(&flips), "{flips}");
    assert_eq!(shifts.len(), 49);
    assert_ne!(cfg.draw(7, 0, 5), cfg.draw(7, 1, 5));
    assert_ne!(cfg.draw(7, 0, 5), cfg.draw(8, 0, 5));
    // Parts switched off draw nothing visible.
    let off = AugmentConfig::default();
    assert!(!off.is_active());
    for item in 0..50 {
        assert_eq!(off.draw(7, 3, item), AugmentParams::identity(0));
    }
}

fn store() -> Arc<ImageStore> {
    // Four 1x1x3 images (a row of three pixels), distinct values.
    let data: Vec<u8> = (0..12).map(|v| 10 + 10 * v as u8).collect();
    Arc::new(
        ImageStore::from_parts(
            [1, 1, 3],
            data,
            vec![0, 1, 0, 1],
            (0..4).map(|i| i.to_string()).collect(),
        )
        .unwrap(),
    )
}

fn batch_values(batcher: &ImageBatcher, split: &SplitDataset, order: &[usize]) -> Vec<Vec<f32>> {
    let items = order.iter().map(|&i| split.item(i)).collect();
    let batch = batcher.batch(items, &Device::flex());
    let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
    values.chunks(3).map(<[f32]>::to_vec).collect()
}

#[test]
fn the_batcher_augments_per_item_and_epoch_whatever_the_order() {
    let split = SplitDataset::new(store(), vec![0, 1, 2, 3]).unwrap();
    let cfg = AugmentConfig {
        horizontal_flip: true,
        ..AugmentConfig::default()
    };
    assert!(!ImageBatcher::with_augment(AugmentConfig::default(), 1).augments());
    let plain = batch_values(&ImageBatcher::default(), &split, &[0, 1, 2, 3]);

    let a = ImageBatcher::with_augment(cfg.clone(), 11);
    let b = ImageBatcher::with_augment(cfg.clone(), 11);
    let mut seen_flip = false;
    for epoch in 0..6u64 {
        let forward = batch_values(&a, &split, &[0, 1, 2, 3]);
        let mut backward = batch_values(&b, &split, &[3, 2, 1, 0]);
        backward.reverse();
        assert_eq!(forward, backward, "epoch {epoch}: depends on batch order");
        for (i, image) in forward.iter().enumerate() {
            // Each image is the original row or its mirror, as the draw for (11, epoch, i) says.
            let mut mirror = plain[i].clone();
            mirror.reverse();
            let want = if cfg.draw(11, epoch, i as u64).flip {
                seen_flip = true;
                &mirror
            } else {
                &plain[i]
            };
            assert_eq!(image, want, "epoch {epoch} item {i}");
        }
    }
    assert!(seen_flip);
    // Clones share the epoch count (loader workers get clones).
    let c = ImageBatcher::with_augment(cfg.clone(), 11);
    let _ = batch_values(&c.clone(), &split, &[0]);
    let second = batch_values(&c, &split, &[0]);
    let mut mirror = plain[0].clone();
    mirror.reverse();
    let want = if cfg.draw(11, 1, 0).flip {
        mirror
    } else {
        plain[0].clone()
    };
    assert_eq!(second[0], want);
}
