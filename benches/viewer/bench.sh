#!/usr/bin/env bash
# The viewer at the issue's size: 20,000 points (16,000 train + 4,000 val synthetic faces,
# 100 identities, 3-D) and 80 epochs. Trains one real epoch, stretches it to 80 synthetic
# epochs (make_run.py, numpy), writes report.html and drives it in headless Chromium:
# prints the page size, ms per redraw while scrubbing (every epoch in turn, all points on) and
# the frames per second presented while the epoch changes on every animation frame.
#
#   benches/viewer/bench.sh            # ARCFACE_BIN=path skips the build; CHROMIUM=path
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${ARCFACE_BIN:-}"
if [ -z "$BIN" ]; then
    cargo build --release -p cli
    BIN="${CARGO_TARGET_DIR:-target}/release/arcface-lab"
fi
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome)}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK"
cat > "$WORK/viewer-bench.toml" <<TOML
name = "viewer-bench"
out_dir = "$WORK/runs"
seed = 58
[data]
kind = "synthetic"
root = "$WORK/faces"
identities = 100
images_per_identity = 200
image_size = 32
val_fraction = 0.2
[model]
embedding_dim = 3
head = "arcface"
scale = 16.0
margin = 0.3
[train]
epochs = 1
batch_size = 64
TOML
"$BIN" train "$WORK/viewer-bench.toml" --no-render --device flex --overwrite
python3 benches/viewer/make_run.py "$WORK/runs/viewer-bench" 80
/usr/bin/time -f "view: %e s, %M KB peak" "$BIN" view "$WORK/runs/viewer-bench"
ls -l "$WORK/runs/viewer-bench/report.html"
python3 tests/browser/drive_viewer.py --chromium "$CHROMIUM" --page "$WORK/runs/viewer-bench/report.html" \
    --screenshot "$WORK/viewer-bench.png" --bench \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({k: r.get(k) for k in ("bench_ms_per_redraw","bench_fps","bench_state","errors")}, indent=1))'
echo "screenshot: $WORK/viewer-bench.png"
