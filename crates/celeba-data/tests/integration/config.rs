use std::path::PathBuf;

use celeba_data::{CelebaConfig, DataConfig, MnistConfig, MnistSplit, SyntheticConfig};

#[test]
fn kind_tag_selects_the_variant_and_defaults_fill_in() {
    let cfg: DataConfig =
        serde_json::from_str(r#"{"kind": "synthetic", "root": "faces"}"#).unwrap();
    assert_eq!(cfg, DataConfig::Synthetic(SyntheticConfig::new("faces")));
    let DataConfig::Synthetic(s) = cfg else {
        unreachable!()
    };
    assert_eq!(
        (
            s.identities,
            s.images_per_identity,
            s.image_size,
            s.generator_seed,
            s.val_fraction
        ),
        (8, 60, 32, 7, 0.2)
    );

    let cfg: DataConfig =
        serde_json::from_str(r#"{"kind": "celeba", "root": "c", "top_k": 10}"#).unwrap();
    assert_eq!(cfg, DataConfig::Celeba(CelebaConfig::top_k("c", 10)));
    let DataConfig::Celeba(c) = cfg else {
        unreachable!()
    };
    assert_eq!((c.image_size, c.grayscale, c.ids), (64, false, None));

    let cfg: DataConfig =
        serde_json::from_str(r#"{"kind": "mnist", "root": "m", "limit": 100}"#).unwrap();
    assert_eq!(
        cfg,
        DataConfig::Mnist(MnistConfig {
            root: PathBuf::from("m"),
            val_fraction: 0.2,
            limit: Some(100),
            split: MnistSplit::Auto,
        })
    );
}

#[test]
fn unknown_keys_and_missing_roots_are_rejected() {
    let err =
        serde_json::from_str::<DataConfig>(r#"{"kind": "synthetic", "root": "f", "identites": 4}"#)
            .unwrap_err();
    assert!(err.to_string().contains("identites"), "{err}");
    assert!(serde_json::from_str::<DataConfig>(r#"{"kind": "mnist"}"#).is_err());
    assert!(serde_json::from_str::<DataConfig>(r#"{"kind": "imagenet", "root": "x"}"#).is_err());
}

#[test]
fn errors_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<celeba_data::DataError>();
}

#[test]
fn validate_checks_ranges() {
    let mut s = SyntheticConfig::new("f");
    assert!(DataConfig::Synthetic(s.clone()).validate().is_ok());
    s.image_size = 4;
    assert!(DataConfig::Synthetic(s.clone()).validate().is_err());
    s.image_size = 32;
    s.val_fraction = -0.1;
    assert!(DataConfig::Synthetic(s).validate().is_err());
    let mut m = MnistConfig::new("m");
    m.limit = Some(0);
    assert!(DataConfig::Mnist(m).validate().is_err());
}
