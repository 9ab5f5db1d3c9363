use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use celeba_data::{ImageBatcher, ImageStore, SplitDataset};

#[test]
fn batch_normalises_pixels_and_keeps_labels() {
    // Two 1x2x2 images.
    let store = ImageStore::from_parts(
        [1, 2, 2],
        vec![0, 51, 255, 128, 10, 20, 30, 40],
        vec![3, 1],
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let split = SplitDataset::new(Arc::new(store), vec![1, 0]).unwrap();
    let items = vec![split.get(1).unwrap(), split.get(0).unwrap()];
    assert_eq!(items[0].label, 3);

    let batch = ImageBatcher::default().batch(items, &Device::flex());
    assert_eq!(batch.images.dims(), [2, 1, 2, 2]);
    assert_eq!(batch.targets.dims(), [2]);
    let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
    // (x / 255 - 0.5) / 0.5, worked by hand: 0 -> -1, 51 -> -0.6, 255 -> 1, 128 -> 1/255.
    let expected = [-1.0, -0.6, 1.0, 1.0 / 255.0];
    for (got, want) in values[..4].iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let targets: Vec<i64> = batch.targets.into_data().iter::<i64>().collect();
    assert_eq!(targets, [3, 1]);

    let empty = ImageBatcher::default().batch(Vec::new(), &Device::flex());
    assert_eq!(empty.images.dims(), [0, 0, 0, 0]);
    assert_eq!(empty.targets.dims(), [0]);
}

#[test]
fn split_reports_labels_names_and_shape() {
    let store = ImageStore::from_parts(
        [3, 1, 1],
        vec![0; 9],
        vec![0, 2, 1],
        vec!["x".into(), "y".into(), "z".into()],
    )
    .unwrap();
    let split = SplitDataset::new(Arc::new(store), vec![2, 1]).unwrap();
    assert_eq!(split.labels(), [1, 2]);
    assert_eq!(split.names(), ["z", "y"]);
    assert_eq!(split.shape(), [3, 1, 1]);
    assert_eq!(Dataset::len(&split), 2);
    let store = split.store().clone();
    assert!(SplitDataset::new(store, vec![3]).is_err());
    assert!(
        ImageStore::from_parts(
            [1, 2, 2],
            vec![0; 7],
            vec![0, 0],
            vec!["a".into(), "b".into()]
        )
        .is_err()
    );
}
