//! Checkpoints written before the heads became one module (`tests/fixtures/head-*-v0.bpk`,
//! saved by the seven-head code with every float parameter set to `fill`) load into the new
//! heads with their values.

use std::path::PathBuf;

use burn::module::Module;
use burn::prelude::*;

use crate::head::test_util::{Values, fill};
use crate::head::{CosineHeadConfig, HeadConfig, Margin, SoftmaxHeadConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/head-{name}-v0.bpk"))
}

#[test]
fn heads_saved_by_earlier_versions_load_with_their_values() {
    let device = Device::flex();
    let heads = [
        (
            "softmax",
            HeadConfig::Softmax(SoftmaxHeadConfig::new(2, 3)),
            vec![6, 3],
        ),
        (
            "arcface",
            HeadConfig::Cosine(CosineHeadConfig::arcface(2, 3)),
            vec![6],
        ),
        (
            "normface",
            HeadConfig::Cosine(CosineHeadConfig::normface(2, 3)),
            vec![6],
        ),
        (
            "cosface",
            HeadConfig::Cosine(CosineHeadConfig::cosface(2, 3)),
            vec![6],
        ),
        (
            "sphereface",
            HeadConfig::Cosine(CosineHeadConfig::sphereface(2, 3)),
            vec![6],
        ),
        (
            "combined",
            HeadConfig::Cosine(CosineHeadConfig::combined(2, 3)),
            vec![6],
        ),
        (
            "subcenter",
            HeadConfig::Cosine(CosineHeadConfig::subcenter_arcface(2, 3, 2)),
            vec![12],
        ),
    ];
    for (name, config, sizes) in heads {
        let head = config
            .init(&device)
            .unwrap()
            .try_load_file(fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut values = Values::default();
        head.visit(&mut values);
        let want: Vec<Vec<f32>> = sizes.into_iter().map(fill).collect();
        assert_eq!(values.0, want, "{name}");
    }
}

#[test]
fn a_checkpoint_of_another_head_is_refused() {
    let device = Device::flex();
    // Same shape, other margin: the path names the paper's head, so the load fails.
    let cosface = CosineHeadConfig::arcface(2, 3).with_margin(Margin::AdditiveCosine { m: 0.35 });
    let head = HeadConfig::Cosine(cosface).init(&device).unwrap();
    assert!(head.try_load_file(fixture("arcface")).is_err());
}
