//! `embed`: a trained run's embeddings of arbitrary images, checked against the run's own
//! validation snapshot, and its refusals.

use crate::helpers::*;

#[test]
fn embed_reproduces_the_runs_validation_snapshot_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "emb", 2, 2);
    let files = val_files(&run_dir);
    assert_eq!(files.len(), 4 * 3, "4 identities x 12 images x 0.25");

    let mut args = vec![
        "embed",
        "runs/emb",
        "--checkpoint",
        "last",
        "--device",
        "flex",
        "--out",
        "val.npy",
    ];
    args.extend(files.iter().map(String::as_str));
    ok(&run(dir, &args));

    // The run's own snapshot of the last epoch (2), written by training, is the reference.
    let (expected, shape) = npy_f32(&run_dir.join("embeddings/val/epoch_002.npy"));
    let (got, got_shape) = npy_f32(&dir.join("val.npy"));
    assert_eq!(got_shape, shape);
    assert_eq!(shape, vec![12, 2]);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&expected));
    let listed: Vec<String> = std::fs::read_to_string(dir.join("val.files.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, files);

    // Never overwrites: the .npy (and its file list) stay as they were.
    let before = std::fs::read(dir.join("val.npy")).unwrap();
    let again = refused_cleanly(&run(dir, &args));
    assert!(again.contains("val.npy already exists"), "{again}");
    assert_eq!(std::fs::read(dir.join("val.npy")).unwrap(), before);

    // CSV on stdout: header, then one row per file with the same values as the snapshot.
    let out = run(
        dir,
        &[
            "embed",
            "runs/emb",
            "--checkpoint",
            "last",
            "--device",
            "flex",
            &files[0],
            &files[5],
        ],
    );
    ok(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "file,e0,e1");
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, row) in lines[1..].iter().zip([0, 5]) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], files[row]);
        let values: Vec<f32> = cells[1..].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(bits(&values), bits(&expected[row * 2..row * 2 + 2]));
    }

    // A folder, searched recursively, in path order; --out x.csv.
    let nested = dir.join("mine/a/b");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(dir.join(&files[1]), nested.join("z.jpg")).unwrap();
    std::fs::copy(dir.join(&files[2]), dir.join("mine/a/y.jpg")).unwrap();
    std::fs::write(dir.join("mine/notes.txt"), "not an image, not looked at").unwrap();
    ok(&run(
        dir,
        &[
            "embed",
            "runs/emb",
            "--checkpoint",
            "last",
            "--device",
            "flex",
            "--out",
            "m.csv",
            "mine",
        ],
    ));
    let csv = std::fs::read_to_string(dir.join("m.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert_eq!(rows[1][0], "mine/a/b/z.jpg");
    assert_eq!(rows[2][0], "mine/a/y.jpg");
    let v: Vec<f32> = rows[1][1..].iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(bits(&v), bits(&expected[2..4]));
}

#[test]
fn embed_refuses_bad_input_and_converts_other_colour_types() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "bad", 2, 2);
    let files = val_files(&run_dir);
    let base = [
        "embed",
        "runs/bad",
        "--checkpoint",
        "last",
        "--device",
        "flex",
    ];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        run(dir, &a)
    };

    // An empty folder.
    std::fs::create_dir(dir.join("empty")).unwrap();
    let t = refused_cleanly(&with(&["empty"]));
    assert!(t.contains("empty: no images in this folder"), "{t}");

    // A missing path.
    let t = refused_cleanly(&with(&["nowhere.jpg"]));
    assert!(t.contains("nowhere.jpg: no such file or folder"), "{t}");

    // A file that is not an image: an error naming it, or with --skip-bad a warning.
    std::fs::write(dir.join("broken.jpg"), "plain text").unwrap();
    let t = refused_cleanly(&with(&["broken.jpg", &files[0]]));
    assert!(t.contains("broken.jpg"), "{t}");
    assert!(t.contains("--skip-bad"), "{t}");
    let out = with(&["--skip-bad", "broken.jpg", &files[0]]);
    let t = ok(&out);
    assert!(
        t.contains("warning: skipped") && t.contains("broken.jpg"),
        "{t}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        2,
        "header + the one good image:\n{stdout}"
    );

    // Grayscale and RGBA PNGs: converted to the run's RGB, with a note.
    let rgb = image::open(dir.join(&files[0])).unwrap();
    rgb.to_luma8().save(dir.join("gray.png")).unwrap();
    rgb.to_rgba8().save(dir.join("rgba.png")).unwrap();
    let t = ok(&with(&["gray.png", "rgba.png"]));
    assert!(
        t.contains("note: gray.png: grayscale image converted to RGB"),
        "{t}"
    );
    assert!(t.contains("note: rgba.png: alpha channel dropped"), "{t}");

    // An --out that is neither .npy nor .csv.
    let t = refused_cleanly(&with(&["--out", "x.txt", &files[0]]));
    assert!(
        t.contains("expected a file name ending in .npy or .csv"),
        "{t}"
    );

    // A run without checkpoints.
    std::fs::remove_dir_all(run_dir.join("checkpoints")).unwrap();
    let t = refused_cleanly(&with(&[&files[0]]));
    assert!(t.contains("last.bpk: no such checkpoint"), "{t}");
    assert!(!dir.join("x.txt").exists());
}
