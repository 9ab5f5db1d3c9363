//! The page's data contract, read back from the written HTML and checked against hand values.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::*;
use crate::geometry::{Geometry, MarginBand};
use crate::npy::{write_npy_f32, write_npy_i64};

fn write_run(
    dir: &Path,
    classes: &[&str],
    centers: &[Vec<f32>],
    splits: &[(&str, Vec<f32>, Vec<i64>)],
    dim: usize,
) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("classes.json"),
        serde_json::to_string(classes).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("metrics.csv"), "epoch,val_loss\n1,0.5\n2,0.25\n").unwrap();
    for (k, c) in centers.iter().enumerate() {
        let path = dir.join(format!("embeddings/centers/epoch_{:03}.npy", k + 1));
        write_npy_f32(&path, c, &[classes.len(), dim]).unwrap();
        for (name, points, labels) in splits {
            let d = dir.join("embeddings").join(name);
            write_npy_i64(&d.join("labels.npy"), labels, &[labels.len()]).unwrap();
            write_npy_f32(
                &d.join(format!("epoch_{:03}.npy", k + 1)),
                points,
                &[labels.len(), dim],
            )
            .unwrap();
        }
    }
}

/// Boundaries and ArcFace's band of m = 0.2.
const ARCFACE_02: Geometry = Geometry {
    boundaries: true,
    band: MarginBand::Angular(0.2),
};

fn view_of(dir: std::path::PathBuf, geometry: Geometry) -> ViewRun {
    ViewRun {
        dir,
        name: "run".into(),
        head: "head".into(),
        geometry,
    }
}

/// The JSON inside `<script id="report-data">`.
fn page_data(html: &str) -> Value {
    let open = r#"<script id="report-data" type="application/json">"#;
    let start = html.find(open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}
fn as_i16(v: &Value) -> Vec<i16> {
    bytes(v)
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}
fn as_u16(v: &Value) -> Vec<u16> {
    bytes(v)
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect()
}
fn as_f32(v: &Value) -> Vec<f32> {
    bytes(v)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn a_2d_run_carries_unit_points_centres_and_arcface_bands() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Centres along x and y: their bisectors are at 45 and 225 degrees, 90 and 270 apart.
    let centers = vec![vec![2.0, 0.0, 0.0, 5.0], vec![1.0, 0.0, 0.0, 1.0]];
    // A class name that would end the script element if it were not escaped.
    write_run(
        &run,
        &["</script>", "b"],
        &centers,
        &[
            ("train", vec![2.0, 0.0, 0.0, 3.0], vec![0, 1]),
            ("val", vec![1.0, 1.0], vec![0]),
        ],
        2,
    );
    let out = tmp.path().join("report.html");
    let view = view_of(run, ARCFACE_02);
    let summary = write_report(&out, "t<1>", &[view], None).unwrap();
    assert_eq!((summary.panels, summary.epochs, summary.points), (1, 2, 3));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<title>t&lt;1&gt; · arcface-lab</title>"));
    let d = page_data(&html);
    assert_eq!(d["classes"][0], "</script>");
    assert_eq!(
        (d["dim"].as_u64(), d["view_dim"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(d["epochs"], serde_json::json!([1, 2]));
    let p = &d["panels"][0];
    // Unit directions times 32767, both epochs: (1, 0), (0, 1); val (1, 1)/sqrt(2) = 23170.
    assert_eq!(
        as_i16(&p["points"]["train"]),
        [32767, 0, 0, 32767, 32767, 0, 0, 32767]
    );
    assert_eq!(as_i16(&p["points"]["val"]), [23170, 23170, 23170, 23170]);
    assert_eq!(
        as_f32(&p["centers"]),
        [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    );
    // ArcFace's band half-width is m/2 whatever the gap.
    let bands = as_f32(&p["bands"]);
    let quarter = std::f32::consts::FRAC_PI_4;
    for (got, want) in bands
        .iter()
        .zip([quarter, 0.1, 5.0 * quarter, 0.1].repeat(2))
    {
        assert!((got - want).abs() < 1e-6, "{bands:?}");
    }
    assert!(p["marks"].is_null() && p["hover"].is_null());
    assert_eq!(
        p["metrics"]["rows"],
        serde_json::json!([[1.0, 0.5], [2.0, 0.25]])
    );
}

#[test]
fn an_nd_run_is_projected_and_keeps_full_space_angles() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let centers = [
        1.0, 0.0, 0.0, 0.0, //
        0.0, 1.0, 0.0, 0.0, //
        0.0, 0.0, 1.0, 0.0,
    ];
    let s = 3f32.sqrt() / 2.0;
    // 60 degrees from centre 0 towards centre 1.
    let point = vec![0.5, s, 0.0, 0.0];
    write_run(
        &run,
        &["a", "b", "c"],
        &[centers.to_vec(), centers.to_vec()],
        &[("train", point.clone(), vec![0]), ("val", point, vec![1])],
        4,
    );
    let out = tmp.path().join("report.html");
    let view = view_of(run, ARCFACE_02);
    write_report(&out, "nd", &[view], None).unwrap();
    let d = page_data(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(
        (d["dim"].as_u64(), d["view_dim"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(d["projection"].as_str().unwrap().contains("PCA"));
    let p = &d["panels"][0];
    // [own angle, nearest other class, its angle] in hundredths of a degree, per epoch.
    assert_eq!(as_u16(&p["hover"]["train"]), [6000, 1, 3000, 6000, 1, 3000]);
    assert_eq!(as_u16(&p["hover"]["val"]), [3000, 0, 6000, 3000, 0, 6000]);
    // No geometry through a projection.
    assert!(p["bands"].is_null() && p["marks"].is_null());
}

#[test]
fn a_3d_run_carries_the_maps_boundary_arcs_per_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Epoch 1: a and b at the poles and c a copy of a: the equator twice (a-b and c-b, each a
    // full turn), nothing between a and c. Epoch 2: centres on +x, +y, +z, all three equally
    // near at (1, 1, 1)/√3 and at its antipode: three half great circles between those two.
    let poles = vec![0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 1.0];
    let axes = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    write_run(
        &run,
        &["a", "b", "c"],
        &[poles, axes],
        &[("train", vec![1.0, 0.0, 0.0], vec![0])],
        3,
    );
    let out = tmp.path().join("report.html");
    write_report(&out, "3d", &[view_of(run, ARCFACE_02)], None).unwrap();
    let d = page_data(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(d["map"]["centre_lon_deg"], 30.0);
    let p = &d["panels"][0];
    let starts: Vec<i32> = bytes(&p["arc_starts"])
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(starts, [0, 2, 5]);
    // 7 numbers an arc: start point, tangent, angle.
    let arcs = as_f32(&p["arcs"]);
    assert_eq!(arcs.len(), 7 * 5);
    for arc in arcs[..14].chunks_exact(7) {
        assert!((arc[6] - std::f32::consts::TAU).abs() < 1e-5, "{arc:?}");
        assert!(
            arc[2].abs() < 1e-6 && arc[5].abs() < 1e-6,
            "on the equator: {arc:?}"
        );
    }
    let corner = 1.0 / 3f32.sqrt();
    for arc in arcs[14..].chunks_exact(7) {
        assert!((arc[6] - std::f32::consts::PI).abs() < 1e-5, "{arc:?}");
        let at = |t: f32| [0, 1, 2].map(|i| t.cos() * arc[i] + t.sin() * arc[3 + i]);
        let mut ends = [at(0.0), at(arc[6])];
        ends.sort_by(|a, b| b[0].total_cmp(&a[0]));
        assert!(
            ends[0].iter().all(|v| (v - corner).abs() < 1e-5),
            "{ends:?}"
        );
        assert!(
            ends[1].iter().all(|v| (v + corner).abs() < 1e-5),
            "{ends:?}"
        );
    }
    // The lattice marks are still there for the globe; ArcFace has a band.
    assert!(!p["marks"].is_null());
    assert_eq!(p["banded"], true);
}

#[test]
fn a_comparison_of_different_splits_is_refused_by_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let centers = vec![vec![1.0, 0.0, 0.0, 1.0]];
    write_run(
        &a,
        &["x", "y"],
        &centers,
        &[("train", vec![1.0, 0.0], vec![0])],
        2,
    );
    write_run(
        &b,
        &["x", "y"],
        &centers,
        &[("train", vec![1.0, 0.0], vec![1])],
        2,
    );
    let runs: Vec<ViewRun> = [a, b]
        .into_iter()
        .map(|dir| view_of(dir, Geometry::default()))
        .collect();
    let err = write_report(&tmp.path().join("r.html"), "c", &runs, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("b/embeddings") && err.contains("same classes"),
        "{err}"
    );
}

#[test]
fn thumbnails_are_indexed_per_row_and_skipped_rows_get_none() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let centers = vec![vec![1.0, 0.0, 0.0, 1.0]];
    write_run(
        &run,
        &["x", "y"],
        &centers,
        &[("train", vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], vec![0, 1, 0])],
        2,
    );
    let tile = vec![128u8; 8 * 8 * 3];
    let thumbs = Thumbnails {
        size: 8,
        splits: [(
            "train".to_string(),
            vec![Some(tile.clone()), None, Some(tile)],
        )]
        .into(),
    };
    let view = view_of(run, Geometry::default());
    let out = tmp.path().join("r.html");
    let summary = write_report(&out, "r", &[view], Some(&thumbs)).unwrap();
    assert_eq!(summary.thumbnails, 2);
    let d = page_data(&std::fs::read_to_string(&out).unwrap());
    let index: Vec<i32> = bytes(&d["splits"][0]["thumbs"])
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(index, [0, -1, 1]);
    assert_eq!(d["thumbs"]["size"], 8);
}
