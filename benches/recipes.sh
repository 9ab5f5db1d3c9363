#!/usr/bin/env bash
# An open-set benchmark of training recipes (not part of `cargo test`): the synthetic faces with
# many identities trained and many held out, one run per recipe x head x embedding size, then
# one table of closed-set val accuracy, held-out AUC, TAR@FAR=1e-2, precision@1, epochs and
# wall time. README's "Which recipe?" shows a measured table and what it says.
#
#   benches/recipes.sh                       # the full grid (for a GPU: --device auto)
#   RECIPES_SIZE=32 RECIPES_WIDTH=16 benches/recipes.sh    # smaller, for a 2-core CPU
#
# Environment (defaults in brackets):
#   RECIPES_IDS [100] trained identities, RECIPES_HELD [50] held-out identities,
#   RECIPES_IMAGES [40] images per identity, RECIPES_SIZE [64] image side,
#   RECIPES_EPOCHS [10], RECIPES_WIDTH [64] the ResNets' base width,
#   RECIPES_DIMS ["128 2"], RECIPES_HEADS ["arcface softmax"],
#   RECIPES_ONLY [all] a space-separated subset of: vgg8-adam vgg8-sgd resnet18-sgd iresnet18-sgd,
#   RECIPES_DEVICE [auto], RECIPES_OUT [runs/recipes] (one run folder per cell; a folder that
#   holds a run of an earlier call is replaced, any other non-empty folder is refused by train).
set -euo pipefail
cd "$(dirname "$0")/.."

IDS="${RECIPES_IDS:-100}"
HELD="${RECIPES_HELD:-50}"
IMAGES="${RECIPES_IMAGES:-40}"
SIZE="${RECIPES_SIZE:-64}"
EPOCHS="${RECIPES_EPOCHS:-10}"
WIDTH="${RECIPES_WIDTH:-64}"
DIMS="${RECIPES_DIMS:-128 2}"
HEADS="${RECIPES_HEADS:-arcface softmax}"
ONLY="${RECIPES_ONLY:-vgg8-adam vgg8-sgd resnet18-sgd iresnet18-sgd}"
DEVICE="${RECIPES_DEVICE:-auto}"
OUT="${RECIPES_OUT:-runs/recipes}"
FEATURES="${RECIPES_FEATURES:-}"

cargo build --release -p cli ${FEATURES:+--features "$FEATURES"} >&2
BIN="${CARGO_TARGET_DIR:-target}/release/arcface-lab"
mkdir -p "$OUT"
CONFIGS="$(mktemp -d)"
trap 'rm -rf "$CONFIGS"' EXIT

# The [train] and [model] keys of each recipe (beside the head and the embedding size).
recipe() {
    case "$1" in
        vgg8-adam) printf '[model]\nbackbone = "vgg8"\n[train]\noptimizer = "adam"\nlr = 3e-3\n' ;;
        vgg8-sgd) printf '[model]\nbackbone = "vgg8"\n[train]\noptimizer = "sgd"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 5e-4\nschedule = "cosine"\nwarmup_epochs = 1\n' ;;
        resnet18-sgd) printf '[model]\nbackbone = "resnet18"\nbase_width = %s\n[train]\noptimizer = "sgd"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 5e-4\nschedule = "cosine"\nwarmup_epochs = 1\n' "$WIDTH" ;;
        iresnet18-sgd) printf '[model]\nbackbone = "iresnet18"\nbase_width = %s\n[train]\noptimizer = "sgd"\nlr = 0.1\nmomentum = 0.9\nweight_decay = 5e-4\nschedule = "cosine"\nwarmup_epochs = 1\n' "$WIDTH" ;;
        *) echo "unknown recipe $1 (expected vgg8-adam, vgg8-sgd, resnet18-sgd or iresnet18-sgd)" >&2; exit 2 ;;
    esac
}

ROWS="$CONFIGS/rows.tsv"
: > "$ROWS"
for name in $ONLY; do
    for head in $HEADS; do
        for dim in $DIMS; do
            cell="$name-$head-$dim"
            config="$CONFIGS/$cell.toml"
            keys="$(recipe "$name")"
            model_keys="$(printf '%s\n' "$keys" | sed -n '/^\[model\]/,/^\[train\]/p' | sed '1d;$d')"
            train_keys="$(printf '%s\n' "$keys" | sed -n '/^\[train\]/,$p' | sed '1d')"
            cat > "$config" <<EOF
name = "$cell"
seed = 58
[data]
kind = "synthetic"
root = "data/synthetic-recipes-$IDS-$HELD-$IMAGES-$SIZE"
identities = $IDS
held_out_identities = $HELD
images_per_identity = $IMAGES
image_size = $SIZE
generator_seed = 7
val_fraction = 0.2
[model]
embedding_dim = $dim
head = "$head"
$model_keys
[train]
epochs = $EPOCHS
batch_size = 64
num_workers = 1
$train_keys
[render]
enabled = false
EOF
            echo "== $cell" >&2
            start=$(date +%s%N)
            "$BIN" train "$config" --out "$OUT/$cell" --overwrite --no-render --device "$DEVICE" \
                > "$OUT/$cell.log" 2>&1 || { echo "$cell failed: see $OUT/$cell.log" >&2; continue; }
            end=$(date +%s%N)
            printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$head" "$dim" "$OUT/$cell" \
                "$(( (end - start) / 1000000 ))" >> "$ROWS"
        done
    done
done

python3 - "$ROWS" <<'EOF'
import csv, json, sys
print("| recipe | head | dim | val acc | held-out AUC | TAR@FAR=1e-2 | P@1 | best epoch / epochs | wall s |")
print("|---|---|---|---|---|---|---|---|---|")
for name, head, dim, run, wall in csv.reader(open(sys.argv[1]), delimiter="\t"):
    rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
    best = min(rows, key=lambda r: float(r["val_loss"]))
    held = json.load(open(f"{run}/eval.json")).get("held_out") or {}
    fmt = lambda k: f"{held[k]:.3f}" if k in held else "-"
    print(f"| {name} | {head} | {dim} | {float(best['val_acc']):.3f} | {fmt('auc')} | "
          f"{fmt('tar_at_far_1e2')} | {fmt('precision_at_1')} | {best['epoch']} / {len(rows)} | "
          f"{int(wall) / 1000:.1f} |")
EOF
