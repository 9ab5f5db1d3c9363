#!/usr/bin/env python3
"""PyTorch re-implementation of arcface-lab's VGG8 + ArcFace training step, for timing only.

Written from the architecture (crates/arcface-core/src/backbone.rs and head/arcface.rs), not
from the seed's code, so that benches/peer/compare.sh can time the same work in both:

* VGG8: 3 blocks of [conv3x3 pad 1 -> BN -> ReLU -> conv3x3 pad 1 -> BN -> ReLU -> maxpool 2x2],
  widths 16, 32, 64; then BatchNorm2d(64) -> Dropout(0.5) -> flatten ->
  Linear(64 * (H/8) * (W/8), D) -> BatchNorm1d(D).
* ArcFace head: weight [D, C] (one column per class, as ours), Xavier-uniform init;
  cos = normalize(x) @ normalize(W columns); only the target column gets the margin:
  theta = acos(clamp(cos_t, -1 + 1e-7, 1 - 1e-7)), target logit s * cos(theta + m) (the exact
  formula, ours' default `ThetaOverflow::Exact`; `--overflow insightface` uses
  cos(theta) - m sin(m) where theta > pi - m), other logits s * cos; cross entropy.
* Adam lr 1e-3, betas (0.9, 0.999), eps 1e-5 (Burn's AdamConfig default; PyTorch's is 1e-8,
  which makes no difference to the time).
* Pixels as ours: x / 255, then (x - 0.5) / 0.5.

Modes (each prints ONE JSON line on stdout; diagnostics go to stderr):

  step   N timed training steps (forward, backward, Adam) after W warm-up steps on fixed
         random tensors: --batch --input CxHxW --classes --dim --steps --warmup
  embed  N timed eval-mode forwards of the backbone alone under torch.no_grad() (what the
         epoch's validation and snapshot passes run): --batch --input --dim --steps --warmup
  head   forward + backward of the ArcFace head alone (cross entropy on its training logits)
         on random embeddings: --batch --classes --dim --steps --warmup
  epoch  the seed's MNIST epoch: read the IDX files from --mnist, seeded 80/20 split, one
         epoch of training at --batch with shuffling, a validation pass (eval mode, loss and
         accuracy, keeping the embeddings), the eval-mode embeddings of the training split,
         and both saved as .npy (with the class centres) in a temporary folder.

Common: --threads (torch.set_num_threads; default: all cores), --device cpu|cuda, --seed.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLAMP_EPS = 1e-7
PIXEL_MEAN = 0.5
PIXEL_STD = 0.5


class VggBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.pool(x)


class Vgg8(nn.Module):
    def __init__(self, in_channels, height, width, dim, dropout=0.5, widths=(16, 32, 64)):
        super().__init__()
        w1, w2, w3 = widths
        self.blocks = nn.Sequential(
            VggBlock(in_channels, w1), VggBlock(w1, w2), VggBlock(w2, w3)
        )
        self.bn_features = nn.BatchNorm2d(w3)
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Linear(w3 * (height // 8) * (width // 8), dim)
        self.bn_embed = nn.BatchNorm1d(dim)

    def forward(self, x):
        x = self.blocks(x)
        x = self.dropout(self.bn_features(x))
        return self.bn_embed(self.embed(torch.flatten(x, 1)))


class ArcFace(nn.Module):
    def __init__(self, dim, classes, scale=15.0, margin=0.5, overflow="exact"):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, classes))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin
        self.overflow = overflow

    def cosine(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)

    def forward(self, x, targets):
        """(training logits with the margin, margin-free logits)."""
        cos = self.cosine(x)
        index = targets.unsqueeze(1)
        cos_t = cos.gather(1, index)
        theta = torch.acos(cos_t.clamp(-1.0 + CLAMP_EPS, 1.0 - CLAMP_EPS))
        phi = torch.cos(theta + self.margin)
        if self.overflow == "insightface":
            threshold = math.cos(math.pi - self.margin)
            phi = torch.where(cos_t <= threshold, cos_t - self.margin * math.sin(self.margin), phi)
        train = cos.scatter_add(1, index, phi - cos_t)
        return train * self.scale, cos * self.scale


class Net(nn.Module):
    def __init__(self, shape, classes, dim, overflow="exact"):
        super().__init__()
        c, h, w = shape
        self.backbone = Vgg8(c, h, w, dim)
        self.head = ArcFace(dim, classes, overflow=overflow)

    def forward(self, images, targets):
        emb = self.backbone(images)
        train_logits, logits = self.head(emb, targets)
        return F.cross_entropy(train_logits, targets), logits, emb


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fixed_targets(batch, classes, device):
    # The same targets as `arcface-lab bench`: spread over all classes.
    return torch.tensor([(i * 7919) % classes for i in range(batch)], dtype=torch.long, device=device)


def make_optimizer(params, lr):
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-5)


def time_loop(device, warmup, steps, one):
    for _ in range(warmup):
        one()
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        one()
    sync(device)
    return time.perf_counter() - started


def result(args, bench, device, seconds, extra=None):
    images = args.batch * args.steps
    out = {
        "impl": "pytorch",
        "bench": bench,
        "device": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "classes": args.classes,
        "dim": args.dim,
        "steps": args.steps,
        "seconds": round(seconds, 6),
        "images_per_s": round(images / seconds, 3),
        "ms_per_step": round(1000.0 * seconds / args.steps, 4),
    }
    if extra:
        out.update(extra)
    return out


def run_step(args, device):
    shape = parse_input(args.input)
    net = Net(shape, args.classes, args.dim, args.overflow).to(device).train()
    opt = make_optimizer(net.parameters(), args.lr)
    images = torch.randn((args.batch, *shape), device=device)
    targets = fixed_targets(args.batch, args.classes, device)

    def one():
        opt.zero_grad(set_to_none=True)
        loss, _, _ = net(images, targets)
        loss.backward()
        opt.step()

    seconds = time_loop(device, args.warmup, args.steps, one)
    return result(args, "step", device, seconds, {"input": list(shape)})


def run_embed(args, device):
    # The backbone's eval-mode forward without autograd, as the epoch's validation and
    # snapshot passes run it.
    shape = parse_input(args.input)
    net = Net(shape, args.classes, args.dim, args.overflow).to(device).eval()
    images = torch.randn((args.batch, *shape), device=device)

    def one():
        with torch.no_grad():
            net.backbone(images)

    seconds = time_loop(device, args.warmup, args.steps, one)
    return result(args, "embed", device, seconds, {"input": list(shape)})


def run_head(args, device):
    head = ArcFace(args.dim, args.classes, overflow=args.overflow).to(device)
    x = torch.randn(args.batch, args.dim, device=device, requires_grad=True)
    targets = fixed_targets(args.batch, args.classes, device)

    def one():
        x.grad = None
        head.weight.grad = None
        train_logits, _ = head(x, targets)
        F.cross_entropy(train_logits, targets).backward()

    seconds = time_loop(device, args.warmup, args.steps, one)
    return result(args, "head", device, seconds)


# ---------------------------------------------------------------------------------------------
# The MNIST epoch.


def find_idx(folder, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def read_maybe_gz(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


def load_mnist(folder):
    """(uint8 images [n, 1, rows, cols], int64 labels [n]) of the first IDX pair found."""
    for prefix in ("train", "t10k"):
        images_path = find_idx(folder, f"{prefix}-images-idx3-ubyte")
        labels_path = find_idx(folder, f"{prefix}-labels-idx1-ubyte")
        if images_path and labels_path:
            break
    else:
        raise SystemExit(f"no MNIST IDX pair (t10k-images-idx3-ubyte[.gz], ...) in {folder}")
    raw = read_maybe_gz(images_path)
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise SystemExit(f"{images_path}: not an IDX image file (magic {magic})")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16, count=count * rows * cols)
    images = images.reshape(count, 1, rows, cols)
    raw = read_maybe_gz(labels_path)
    magic, n = struct.unpack(">II", raw[:8])
    if magic != 2049 or n != count:
        raise SystemExit(f"{labels_path}: not the labels of {images_path}")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8, count=n).astype(np.int64)
    return images, labels


def run_epoch(args, device):
    started = time.perf_counter()
    images, labels = load_mnist(args.mnist)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    n = len(labels)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n)
    n_val = min(round(args.val_fraction * n), n - 1)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    pixels = torch.from_numpy(images.astype(np.float32) / 255.0)
    pixels = ((pixels - PIXEL_MEAN) / PIXEL_STD).to(device)
    targets = torch.from_numpy(labels).to(device)
    train_x, train_y = pixels[train_idx], targets[train_idx]
    val_x, val_y = pixels[val_idx], targets[val_idx]
    shape = tuple(images.shape[1:])
    classes = 10
    net = Net(shape, classes, args.dim, args.overflow).to(device)
    opt = make_optimizer(net.parameters(), args.lr)
    sync(device)
    load_seconds = time.perf_counter() - started

    # Training: one epoch, shuffled, batch args.batch (the last batch may be short).
    t0 = time.perf_counter()
    net.train()
    perm = torch.from_numpy(rng.permutation(len(train_idx))).to(device)
    train_loss = torch.zeros((), device=device)
    train_correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, len(train_idx), args.batch):
        batch = perm[start : start + args.batch]
        x, y = train_x[batch], train_y[batch]
        opt.zero_grad(set_to_none=True)
        loss, logits, _ = net(x, y)
        loss.backward()
        opt.step()
        train_loss += loss.detach() * len(batch)
        train_correct += (logits.argmax(1) == y).sum()
    sync(device)
    t1 = time.perf_counter()

    # Validation in eval mode, keeping the embeddings.
    net.eval()
    val_loss = 0.0
    val_correct = 0
    val_emb = []
    with torch.no_grad():
        for start in range(0, len(val_idx), args.eval_batch):
            x, y = val_x[start : start + args.eval_batch], val_y[start : start + args.eval_batch]
            loss, logits, emb = net(x, y)
            val_loss += float(loss) * len(y)
            val_correct += int((logits.argmax(1) == y).sum())
            val_emb.append(emb.cpu())
    t2 = time.perf_counter()

    # Snapshot: eval-mode embeddings of the training split (in dataset order), both saved.
    with torch.no_grad():
        train_emb = [
            net.backbone(train_x[s : s + args.eval_batch]).cpu()
            for s in range(0, len(train_idx), args.eval_batch)
        ]
        centres = net.head.weight.t().cpu().numpy()
    with tempfile.TemporaryDirectory(prefix="peer-epoch-") as out:
        np.save(os.path.join(out, "train.npy"), torch.cat(train_emb).numpy())
        np.save(os.path.join(out, "val.npy"), torch.cat(val_emb).numpy())
        np.save(os.path.join(out, "centers.npy"), centres)
        np.save(os.path.join(out, "train_labels.npy"), labels[train_idx])
        np.save(os.path.join(out, "val_labels.npy"), labels[val_idx])
    t3 = time.perf_counter()

    n_train, n_val = len(train_idx), len(val_idx)
    epoch_seconds = t3 - t0
    return {
        "impl": "pytorch",
        "bench": "epoch",
        "device": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "train_images": n_train,
        "val_images": n_val,
        "load_seconds": round(load_seconds, 4),
        "train_seconds": round(t1 - t0, 4),
        "val_seconds": round(t2 - t1, 4),
        "snapshot_seconds": round(t3 - t2, 4),
        "seconds": round(epoch_seconds, 4),
        "images_per_s": round(n_train / epoch_seconds, 3),
        "train_images_per_s": round(n_train / (t1 - t0), 3),
        "train_loss": round(float(train_loss) / n_train, 4),
        "train_acc": round(float(train_correct) / n_train, 4),
        "val_loss": round(val_loss / n_val, 4),
        "val_acc": round(val_correct / n_val, 4),
    }


# ---------------------------------------------------------------------------------------------


def parse_input(text):
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) <= 0:
        raise SystemExit(f"--input {text!r}: expected CxHxW, e.g. 1x28x28 or 3x64x64")
    if dims[1] < 8 or dims[2] < 8:
        raise SystemExit(f"--input {text!r}: VGG8 needs at least 8x8 pixels")
    return dims


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["step", "head", "embed", "epoch"])
    p.add_argument("--batch", type=int, default=None, help="step/epoch: 32, head: 256")
    p.add_argument("--input", default="1x28x28", help="CxHxW (step)")
    p.add_argument("--classes", type=int, default=None, help="step: 10, head: 10177")
    p.add_argument("--dim", type=int, default=None, help="step/epoch: 3, head: 512")
    p.add_argument("--steps", type=int, default=None, help="step: 30, head: 20")
    p.add_argument("--warmup", type=int, default=None, help="step: 5, head: 3")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: all cores)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--overflow", choices=["exact", "insightface"], default="exact",
                   help="target logit where theta + m > pi (ours' default: exact)")
    p.add_argument("--seed", type=int, default=58)
    p.add_argument("--mnist", default="../shared/data/mnist", help="epoch: folder of the IDX files")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--eval-batch", type=int, default=256, help="epoch: validation/snapshot batch (ours: 256)")
    p.add_argument("--limit", type=int, default=0, help="epoch: use only the first N digits")
    args = p.parse_args(argv)

    head = args.mode == "head"
    args.batch = args.batch or (256 if head else 32)
    args.classes = args.classes or (10177 if head else 10)
    args.dim = args.dim or (512 if head else 3)
    args.steps = args.steps or (20 if head else 30)
    args.warmup = args.warmup if args.warmup is not None else (3 if head else 5)
    if min(args.batch, args.steps) <= 0 or args.classes < 2 or args.dim <= 0:
        raise SystemExit("--batch, --steps and --dim must be at least 1, --classes at least 2")

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch.cuda.is_available() is False here")
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        torch.cuda.manual_seed_all(args.seed)
    else:
        device = torch.device("cpu")

    run = {"step": run_step, "head": run_head, "embed": run_embed, "epoch": run_epoch}[args.mode]
    out = run(args, device)
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
