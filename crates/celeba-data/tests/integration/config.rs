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

#[test]
fn new_keys_parse_with_their_defaults() {
    use celeba_data::{AugmentConfig, FolderConfig, HeldOut, OnBadImage};
    let cfg: DataConfig = serde_json::from_str(r#"{"kind": "celeba", "root": "c"}"#).unwrap();
    let DataConfig::Celeba(c) = cfg else {
        unreachable!()
    };
    assert_eq!((c.top_k, c.ids.clone()), (None, None));
    assert_eq!(c.min_images_per_identity, 1);
    assert_eq!((c.held_out, c.held_out_fraction), (HeldOut::Auto, 0.1));
    assert_eq!(c.on_bad_image, OnBadImage::Error);
    assert!(c.cache && c.cache_dir.is_none() && c.augment.is_none());
    assert!(DataConfig::Celeba(c).validate().is_ok());

    let cfg: DataConfig = serde_json::from_str(
        r#"{"kind": "folder", "root": "f", "ids": ["cat", "dog"], "held_out": "none",
            "on_bad_image": "skip", "cache": false, "cache_dir": "/tmp/x",
            "augment": {"horizontal_flip": true, "crop_padding": 4, "brightness": 0.2}}"#,
    )
    .unwrap();
    let DataConfig::Folder(f) = &cfg else {
        unreachable!()
    };
    assert_eq!(
        f,
        &FolderConfig {
            ids: Some(vec!["cat".into(), "dog".into()]),
            held_out: HeldOut::None,
            on_bad_image: OnBadImage::Skip,
            cache: false,
            cache_dir: Some(PathBuf::from("/tmp/x")),
            augment: Some(AugmentConfig {
                horizontal_flip: true,
                crop_padding: 4,
                brightness: 0.2,
                contrast: 0.0,
            }),
            ..FolderConfig::new("f")
        }
    );
    assert_eq!(cfg.augment().unwrap().crop_padding, 4);
    assert!(celeba_data::describe(&cfg).contains("2 listed classes"));

    let cfg: DataConfig =
        serde_json::from_str(r#"{"kind": "mnist", "root": "m", "split": "standard"}"#).unwrap();
    assert!(matches!(
        cfg,
        DataConfig::Mnist(MnistConfig {
            split: MnistSplit::Standard,
            ..
        })
    ));
}

#[test]
fn new_keys_reject_typos_and_bad_values() {
    for text in [
        r#"{"kind": "celeba", "root": "c", "held_out": "some"}"#,
        r#"{"kind": "celeba", "root": "c", "on_bad_image": "ignore"}"#,
        r#"{"kind": "folder", "root": "f", "augment": {"hflip": true}}"#,
        r#"{"kind": "mnist", "root": "m", "split": "half"}"#,
    ] {
        assert!(serde_json::from_str::<DataConfig>(text).is_err(), "{text}");
    }
    let bad = |text: &str, field: &str| {
        let cfg: DataConfig = serde_json::from_str(text).unwrap();
        let msg = cfg.validate().unwrap_err().to_string();
        assert!(msg.contains(field), "{msg}");
    };
    bad(
        r#"{"kind": "celeba", "root": "c", "held_out_fraction": 1.0}"#,
        "held_out_fraction",
    );
    bad(
        r#"{"kind": "celeba", "root": "c", "min_images_per_identity": 0}"#,
        "min_images",
    );
    bad(
        r#"{"kind": "folder", "root": "f", "held_out": "partition"}"#,
        "held_out",
    );
    bad(
        r#"{"kind": "folder", "root": "f", "image_size": 16, "augment": {"crop_padding": 9}}"#,
        "augment.crop_padding",
    );
    bad(
        r#"{"kind": "celeba", "root": "c", "augment": {"contrast": 1.5}}"#,
        "augment.contrast",
    );
}
