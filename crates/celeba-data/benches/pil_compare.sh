#!/usr/bin/env bash
# Side by side: decode + centre square crop + resize of the same generated CelebA-sized JPEGs
# (178x218, quality 90) by this crate and by Pillow, one thread each, files in the page cache.
# Then the cache build on all cores and the mapped loader, for the full-pipeline figures.
#
#   crates/celeba-data/benches/pil_compare.sh            # N=2000 images, SIZE=64
#   N=5000 SIZE=112 crates/celeba-data/benches/pil_compare.sh
#
# Needs python3 with venv; Pillow is installed into $VENV (default: <target dir>/pil-venv) on
# first use. Everything else goes to a temporary folder that is removed at the end.
set -euo pipefail
N=${N:-2000}
SIZE=${SIZE:-64}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${VENV:-$TARGET/pil-venv}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT" && cargo build --quiet --release -p celeba-data --example data_bench)
BIN=$TARGET/release/examples/data_bench
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import PIL' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet pillow
fi

"$BIN" gen "$WORK/set" "$N"
echo "# rust (image crate), one thread"
"$BIN" decode "$WORK/set" "$SIZE"
echo "# pillow $("$VENV/bin/python" -c 'import PIL; print(PIL.__version__)'), one thread"
"$VENV/bin/python" - "$WORK/set/img_align_celeba" "$SIZE" <<'PY'
import os, sys, time
from PIL import Image

folder, size = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
for f in files:  # page cache, as on the Rust side
    open(f, "rb").read()

def run(draft):
    start = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            if draft:
                # JPEG DCT scaling: decode at 1/2, 1/4 or 1/8 scale when that is still >= size.
                im.draft("RGB", (size, size))
            im = im.convert("RGB")
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            im = im.resize((size, size), Image.BILINEAR)
            im.tobytes()
    secs = time.perf_counter() - start
    name = "pil_decode_resize_draft" if draft else "pil_decode_resize_one_thread"
    print(f"{name} images={len(files)} seconds={secs:.3f} images_per_s={len(files) / secs:.0f}")

run(False)
run(True)
PY
echo "# rust cache build (all cores) and mapped loader"
"$BIN" build "$WORK/set" "$SIZE" "$WORK/cache" 2>/dev/null
