use crate::helpers::*;

/// The seed's experiment shape (3-D ArcFace on 1x28x28 digits) on the real MNIST test set,
/// shortened to a few hundred digits and one epoch.
#[test]
fn mnist_config_trains_on_the_real_digits() {
    let Some(mnist) = shared_mnist() else {
        eprintln!(
            "skipped: ../shared/data/mnist (the real MNIST test set) is not beside the project"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/mnist.toml");
    let root = format!("data.root={}", mnist.display());
    ok(&run(
        tmp.path(),
        &[
            "train",
            config.to_str().unwrap(),
            "--epochs",
            "1",
            "--set",
            &root,
            "--set",
            "data.limit=400",
            "--out",
            "m",
            "--no-render",
        ],
    ));
    let (labels, shape) = npy_i64(&tmp.path().join("m/embeddings/val/labels.npy"));
    assert_eq!(shape, vec![80], "20% of 400 digits");
    assert!(labels.iter().all(|l| (0..10).contains(l)));
    assert_eq!(
        npy_f32(&tmp.path().join("m/embeddings/train/epoch_001.npy")).1,
        vec![320, 3]
    );
    let classes = std::fs::read_to_string(tmp.path().join("m/classes.json")).unwrap();
    assert!(classes.contains("\"9\""));
}
