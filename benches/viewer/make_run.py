#!/usr/bin/env python3
"""Stretches a real one-epoch run folder to EPOCHS epochs of synthetic snapshots, so the
viewer can be measured at the issue's size (20,000 points, 80 epochs) without training for an
hour: epoch k moves every point from its epoch-1 direction towards a fixed random centre of its
class. Labels, classes, splits and the data set stay the run's own, so thumbnails still match.

    make_run.py RUN_DIR EPOCHS
"""

import csv
import sys
from pathlib import Path

import numpy as np


def main():
    run, epochs = Path(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(58)
    emb = run / "embeddings"
    first = np.load(emb / "centers" / "epoch_001.npy")
    classes, dim = first.shape
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    splits = [s for s in ("train", "val", "held_out") if (emb / s).is_dir()]
    start = {s: np.load(emb / s / "epoch_001.npy") for s in splits}
    labels = {s: np.load(emb / s / "labels.npy") for s in splits}
    for k in range(2, epochs + 1):
        t = (k - 1) / (epochs - 1)
        np.save(emb / "centers" / f"epoch_{k:03}.npy", ((1 - t) * first + t * centres).astype(np.float32))
        for s in splits:
            x = start[s] / np.maximum(np.linalg.norm(start[s], axis=1, keepdims=True), 1e-12)
            target = centres[labels[s] % classes]
            noise = rng.normal(scale=0.15, size=x.shape)
            y = (1 - t) * x + t * target + (1 - 0.7 * t) * noise
            np.save(emb / s / f"epoch_{k:03}.npy", y.astype(np.float32))
    # metrics.csv: the first row repeated with the epoch number and a falling loss.
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, row = rows[0], rows[1]
    out = [header]
    for k in range(1, epochs + 1):
        r = list(row)
        r[header.index("epoch")] = str(k)
        for name in ("train_loss", "val_loss"):
            if name in header:
                r[header.index(name)] = f"{float(row[header.index(name)]) / k:.5f}"
        out.append(r)
    with open(run / "metrics.csv", "w", newline="") as f:
        csv.writer(f).writerows(out)


if __name__ == "__main__":
    main()
