#!/usr/bin/env bash
# arcface-lab against a PyTorch re-implementation of the same VGG8 + ArcFace training step
# (benches/peer/vgg8_arcface.py), on the same shapes and thread count, in alternating rounds;
# then (unless --no-epoch) whole MNIST epochs of each. Prints both rates and the ratios.
#
#   benches/peer/compare.sh [--rounds N] [--epoch-rounds N] [--steps N] [--warmup N]
#                           [--threads N] [--batch N] [--input CxHxW] [--classes N] [--dim N]
#                           [--mnist DIR] [--no-epoch] [--no-build] [--keep DIR]
#
# The epochs run in alternating rounds too (--epoch-rounds, default --rounds), and the table
# gives each column's median.
#
# Environment:
#   PEER_VENV        the Python virtual environment to create or reuse
#                    (default: $HOME/.cache/arcface-lab/peer-venv)
#   TORCH_INDEX_URL  an index to take torch from instead of the default one, e.g. PyTorch's
#                    CPU-only wheel index (the default index's Linux wheel pulls several GB of
#                    CUDA libraries; it works, it is only large)
#   PYTHON           the interpreter that creates the venv (default: python3)
#   CARGO_TARGET_DIR where `cargo build --release -p cli` builds (default:
#                    $HOME/.cache/arcface-lab/target)
#   ARCFACE_BIN      use this arcface-lab binary and do not build
#
# Not part of `cargo test`: it downloads PyTorch and takes minutes. Exit status 0 unless a
# step really failed (venv, install, build, a benchmark that crashed); a missing MNIST folder
# only skips the epoch, with the reason printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

rounds="${ROUNDS:-3}"
epoch_rounds=""
steps=30
warmup=5
threads=""
batch=32
input="1x28x28"
classes=10
dim=3
mnist="$repo/../shared/data/mnist"
epoch=1
build=1
keep=""

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "compare.sh: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) need "$@"; rounds="$2"; shift 2 ;;
        --epoch-rounds) need "$@"; epoch_rounds="$2"; shift 2 ;;
        --steps) need "$@"; steps="$2"; shift 2 ;;
        --warmup) need "$@"; warmup="$2"; shift 2 ;;
        --threads) need "$@"; threads="$2"; shift 2 ;;
        --batch) need "$@"; batch="$2"; shift 2 ;;
        --input) need "$@"; input="$2"; shift 2 ;;
        --classes) need "$@"; classes="$2"; shift 2 ;;
        --dim) need "$@"; dim="$2"; shift 2 ;;
        --mnist) need "$@"; mnist="$2"; shift 2 ;;
        --no-epoch) epoch=0; shift ;;
        --no-build) build=0; shift ;;
        --keep) need "$@"; keep="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
epoch_rounds="${epoch_rounds:-$rounds}"
for n in "$rounds" "$epoch_rounds" "$steps" "$batch" "$classes" "$dim"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: expected a whole number >= 1, got '$n'" >&2; exit 2; }
done
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "compare.sh: --warmup expects a whole number" >&2; exit 2; }
threads="${threads:-$(nproc)}"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --threads expects a whole number >= 1" >&2; exit 2; }

log() { echo "[compare] $*" >&2; }

# --- 1. PyTorch in a virtual environment ------------------------------------------------------
venv="${PEER_VENV:-$HOME/.cache/arcface-lab/peer-venv}"
py="$venv/bin/python"
if [[ ! -x "$py" ]]; then
    log "creating the virtual environment $venv"
    mkdir -p "$(dirname "$venv")"
    "${PYTHON:-python3}" -m venv "$venv"
fi
if ! "$py" -c "import torch, numpy" 2>/dev/null; then
    log "installing torch and numpy into $venv (the default torch wheel brings CUDA libraries: a few GB, minutes)"
    "$py" -m pip install --quiet --upgrade pip >&2 || log "pip upgrade failed; going on with the venv's pip"
    if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
        "$py" -m pip install numpy >&2
        "$py" -m pip install --index-url "$TORCH_INDEX_URL" torch >&2
    else
        "$py" -m pip install -r "$here/requirements.txt" >&2
    fi
    "$py" -c "import torch, numpy" || { log "torch does not import after the install"; exit 1; }
fi
torch_version="$("$py" -c 'import torch; print(torch.__version__)')"
log "PyTorch $torch_version in $venv"

# --- 2. Our binary ----------------------------------------------------------------------------
if [[ -n "${ARCFACE_BIN:-}" ]]; then
    bin="$ARCFACE_BIN"
else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arcface-lab/target}"
    bin="$CARGO_TARGET_DIR/release/arcface-lab"
    if [[ "$build" == 1 ]]; then
        log "cargo build --release -p cli (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
        (cd "$repo" && cargo build --release -p cli) >&2
    fi
fi
[[ -x "$bin" ]] || { log "no arcface-lab binary at $bin"; exit 1; }
"$bin" bench step --help >/dev/null 2>&1 || { log "$bin has no 'bench step' subcommand (too old a build?)"; exit 1; }

# --- 3. Alternating step rounds ---------------------------------------------------------------
if [[ -n "$keep" ]]; then
    mkdir -p "$keep"
    work="$keep"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/arcface-compare.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi
results="$work/results.jsonl"
: >"$results"

# Both sides get the same number of threads: rayon's pool for ours, torch.set_num_threads
# (and OpenMP) for PyTorch.
ours_step() {
    RAYON_NUM_THREADS="$threads" "$bin" bench step --input "$input" --batch "$batch" \
        --classes "$classes" --dim "$dim" --steps "$steps" --warmup "$warmup" --device flex --json
}
peer_step() {
    OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$py" "$here/vgg8_arcface.py" step \
        --input "$input" --batch "$batch" --classes "$classes" --dim "$dim" --steps "$steps" \
        --warmup "$warmup" --threads "$threads" --device cpu
}
# The JSON line of a run (the last line of stdout that starts with '{'), with the round added.
record() {
    local who="$1" round="$2" out
    if ! out="$("$who" 2>"$work/stderr.txt")"; then
        log "$who failed:"; cat "$work/stderr.txt" >&2; exit 1
    fi
    out="$(grep '^{' <<<"$out" | tail -n 1)"
    [[ -n "$out" ]] || { log "$who printed no JSON line"; cat "$work/stderr.txt" >&2; exit 1; }
    "$py" -c 'import json,sys; d=json.loads(sys.argv[1]); d["round"]=int(sys.argv[2]); print(json.dumps(d))' \
        "$out" "$round" >>"$results"
}

# Other work on the machine skews both sides (PyTorch's OpenMP threads suffer most): count the
# runnable processes other than the sampler, 10 times over a second, between benchmarks.
busy_notes=()
check_busy() {
    local total=0 i n
    for ((i = 0; i < 10; i++)); do
        n="$(awk '/^procs_running/ { print $2 }' /proc/stat 2>/dev/null || echo 1)"
        total=$((total + n - 1))
        sleep 0.1
    done
    # total / 10 runnable others on average; warn past half a core.
    if ((total > 5)); then
        busy_notes+=("warning: $1: on average $((total / 10)).$((total % 10)) other runnable processes on $(nproc) cores: the figures are skewed")
        log "${busy_notes[-1]}"
    fi
}
log "step: batch $batch, input $input, $classes classes, $dim-D, $threads threads, $rounds rounds x $steps steps ($warmup warm-up)"
for ((r = 1; r <= rounds; r++)); do
    # Alternate who goes first, so that a slow drift of the machine hits both alike.
    if ((r % 2)); then order=(ours_step peer_step); else order=(peer_step ours_step); fi
    check_busy "before round $r"
    for who in "${order[@]}"; do
        log "round $r/$rounds: $who"
        record "$who" "$r"
    done
done

# --- 4. One MNIST epoch each ------------------------------------------------------------------
epoch_note=""
if [[ "$epoch" == 0 ]]; then
    epoch_note="epoch: skipped (--no-epoch)"
elif ! ls "$mnist"/*-images-idx3-ubyte* >/dev/null 2>&1; then
    epoch_note="epoch: skipped: no MNIST IDX files (t10k-images-idx3-ubyte[.gz], ...) in $mnist"
else
    mnist="$(cd "$mnist" && pwd)"
    ours_epoch() {
        local round="$1" started ended
        log "epoch round $round/$epoch_rounds: arcface-lab train configs/mnist.toml --epochs 1 (data.root=$mnist)"
        started=$(date +%s.%N)
        if ! (cd "$repo" && RAYON_NUM_THREADS="$threads" "$bin" train configs/mnist.toml --device flex \
            --set "data.root=\"$mnist\"" --epochs 1 --out "$work/ours-run" --no-render) \
            >"$work/ours-epoch.txt" 2>&1; then
            log "arcface-lab train failed:"; cat "$work/ours-epoch.txt" >&2; exit 1
        fi
        ended=$(date +%s.%N)
        rm -rf "$work/ours-run"
        "$py" - "$work/ours-epoch.txt" "$started" "$ended" "$round" >>"$results" <<'EOF2'
import json, re, sys
text = open(sys.argv[1]).read()
wall = float(sys.argv[3]) - float(sys.argv[2])
out = {"impl": "arcface-lab", "bench": "epoch", "round": int(sys.argv[4]), "wall_seconds": round(wall, 3)}
m = re.search(r"(\d+) training and (\d+) validation images", text)
if m:
    out["train_images"], out["val_images"] = int(m.group(1)), int(m.group(2))
m = re.search(r"epoch\s+1/1 .*?val loss ([\d.]+) acc\s+([\d.]+)%\s+([\d.]+)s \(train ([\d.]+), val ([\d.]+), snapshot ([\d.]+)\)", text)
if m:
    out["val_loss"], out["val_acc"] = float(m.group(1)), float(m.group(2)) / 100
    out["seconds"], out["train_seconds"] = float(m.group(3)), float(m.group(4))
    out["val_seconds"], out["snapshot_seconds"] = float(m.group(5)), float(m.group(6))
m = re.search(r"([\d.]+) training images/s", text)
if m:
    out["reported_images_per_s"] = float(m.group(1))
if "seconds" in out and "train_images" in out:
    out["images_per_s"] = round(out["train_images"] / out["seconds"], 3)
print(json.dumps(out))
EOF2
    }
    peer_epoch() {
        local round="$1" started ended out
        log "epoch round $round/$epoch_rounds: PyTorch"
        started=$(date +%s.%N)
        if ! out="$(OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$py" "$here/vgg8_arcface.py" \
            epoch --mnist "$mnist" --batch 32 --threads "$threads" --device cpu 2>"$work/stderr.txt")"; then
            log "the PyTorch epoch failed:"; cat "$work/stderr.txt" >&2; exit 1
        fi
        ended=$(date +%s.%N)
        "$py" -c 'import json,sys; d=json.loads(sys.argv[1]); d["wall_seconds"]=round(float(sys.argv[3])-float(sys.argv[2]),3); d["round"]=int(sys.argv[4]); print(json.dumps(d))' \
            "$(grep '^{' <<<"$out" | tail -n 1)" "$started" "$ended" "$round" >>"$results"
    }
    # Alternating rounds as for the step: one epoch each per round, who goes first alternating.
    for ((r = 1; r <= epoch_rounds; r++)); do
        check_busy "before epoch round $r"
        if ((r % 2)); then ours_epoch "$r"; peer_epoch "$r"; else peer_epoch "$r"; ours_epoch "$r"; fi
    done
fi

# --- 5. The table -----------------------------------------------------------------------------
"$py" - "$results" "$epoch_note" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
note = sys.argv[2]
steps = [r for r in rows if r["bench"] == "step"]
ours = [r for r in steps if r["impl"] == "arcface-lab"]
peer = [r for r in steps if r["impl"] == "pytorch"]
o, p = ours[0], peer[0]
print(f"VGG8 + ArcFace training step: batch {o['batch']}, input {'x'.join(map(str, o['input']))}, "
      f"{o['classes']} classes, {o['dim']}-D, {p['threads']} threads, "
      f"{len(ours)} rounds x {o['steps']} steps")
rounds = sorted({r["round"] for r in steps})
head = f"{'':<26}" + "".join(f"{'round ' + str(k):>10}" for k in rounds) + f"{'median':>10}"
print(head)
def line(name, rs):
    by = {r["round"]: r["images_per_s"] for r in rs}
    med = statistics.median(by.values())
    print(f"{name:<26}" + "".join(f"{by[k]:>10.1f}" for k in rounds) + f"{med:>10.1f}  images/s")
    return med
mo = line(f"arcface-lab ({o['device']})", ours)
mp = line(f"pytorch {p['torch']} ({p['device']})", peer)
print(f"ratio ours/pytorch: {mo / mp:.2f}x   (median {1000 * o['batch'] / mo:.1f} vs "
      f"{1000 * p['batch'] / mp:.1f} ms/step)")
def median_row(rs):
    """Each numeric field's median over the rounds (the other fields from the first)."""
    out = dict(rs[0])
    for key, value in rs[0].items():
        if isinstance(value, (int, float)) and key not in ("round", "train_images", "val_images"):
            vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
            out[key] = statistics.median(vals)
    out["rounds"] = len(rs)
    return out
epoch_rows = [r for r in rows if r["bench"] == "epoch"]
epochs = {impl: median_row([r for r in epoch_rows if r["impl"] == impl])
          for impl in sorted({r["impl"] for r in epoch_rows})}
print()
if note:
    print(note)
elif epochs:
    e = epochs.get("pytorch") or epochs["arcface-lab"]
    print(f"MNIST epoch: {e.get('train_images', '?')} training + {e.get('val_images', '?')} validation "
          f"images, batch 32, validation pass, train and val embeddings saved; medians of {e['rounds']} rounds")
    eround = sorted({r["round"] for r in epoch_rows})
    print(f"{'epoch seconds':<26}" + "".join(f"{'round ' + str(k):>10}" for k in eround))
    for name, key in (("arcface-lab", "arcface-lab"), ("pytorch", "pytorch")):
        by = {r["round"]: r.get("seconds") for r in epoch_rows if r["impl"] == key}
        print(f"{name:<26}" + "".join(f"{by[k]:>10.2f}" if isinstance(by.get(k), (int, float)) else f"{'?':>10}" for k in eround))
    print(f"{'median':<26}{'epoch s':>9}{'train s':>9}{'val s':>8}{'snap s':>8}{'wall s':>9}{'images/s':>10}")
    def f(v, w, d=1):
        return f"{v:>{w}.{d}f}" if isinstance(v, (int, float)) else f"{'?':>{w}}"
    for name, key in ((f"arcface-lab ({o['device']})", "arcface-lab"), (f"pytorch {p['torch']} ({p['device']})", "pytorch")):
        r = epochs.get(key, {})
        print(f"{name:<26}{f(r.get('seconds'), 9, 2)}{f(r.get('train_seconds'), 9, 2)}{f(r.get('val_seconds'), 8, 2)}"
              f"{f(r.get('snapshot_seconds'), 8, 2)}{f(r.get('wall_seconds'), 9)}{f(r.get('images_per_s'), 10)}")
    a, b = epochs.get("arcface-lab", {}), epochs.get("pytorch", {})
    if a.get("seconds") and b.get("seconds"):
        print(f"epoch time ours/pytorch: {a['seconds'] / b['seconds']:.2f}x, i.e. {b['seconds'] / a['seconds']:.2f}x PyTorch's speed "
              f"(wall {a['wall_seconds'] / b['wall_seconds']:.2f}x);"
              f" val accuracy after 1 epoch: ours {a.get('val_acc', float('nan')):.3f}, pytorch {b.get('val_acc', float('nan')):.3f}")
    print("(images/s = training images / epoch seconds; wall s = the whole command, start-up and data loading included)")
EOF
for note in "${busy_notes[@]}"; do echo "$note"; done
if [[ -n "$keep" ]]; then log "raw results: $results"; fi
