#!/usr/bin/env bash
# arcface-lab on a GPU machine, in two halves, because GPU machines often have no network and the
# CUDA build needs the registries (README, "CUDA"):
#
#   benches/gpu.sh pack [--out DIR]
#       here, with the registries: installs the LLVM the cuda feature needs
#       (scripts/install-cuda-llvm.sh), builds `cargo build --release -p cli --features cuda,wgpu`
#       into ${CARGO_TARGET_DIR:-$HOME/.cache/arcface-lab/target-gpu}, strips the binary and
#       compresses it with xz into DIR/arcface-lab.xz (default DIR: target/gpu-pack in the
#       repository, an ignored folder). Prints the sizes; fails above 64 MiB.
#
#   benches/gpu.sh [--packed FILE.xz | --bin PATH] [--devices cuda,wgpu] [--quick]
#                  [--budget SECONDS] [--no-torch] [--out DIR] [--dry-run]
#       there, in a copy of the repository: unpacks the binary (or takes --bin, default
#       $ARCFACE_BIN) and runs, on each device of --devices (default cuda,wgpu):
#         env          the GPU, the driver and which runtime libraries the loader finds
#                      (libcuda.so.1, libnvrtc, libnvidia-ml, libvulkan): what the binary needs
#         smoke        the smoke test of tests/gpu_backends.rs: 10 VGG8 + ArcFace training steps
#                      on the device, finite losses, then the trained weights' embeddings of the
#                      same 12 images on the device and on the CPU, largest difference relative
#                      to the largest coordinate (must be <= 1e-2)
#         mnist-step   training step, 1x28x28, batch 32, 10 classes, 3-D (the seed's)
#         celeba-step  training step, 3x64x64, batch 256, 1,000 classes, 512-D
#         head         ArcFace head forward + backward, batch 512, 10,177 classes (all of
#                      CelebA's identities), 512-D
#         mnist-embed  the backbone's eval-mode forward, 1x28x28, batch 256 (validation and
#                      the snapshots)
#         celeba-2d    5 epochs of configs/celeba-2d.toml (iResNet-18 width 16, SGD, cosine,
#                      2-D ArcFace) on synthetic faces shaped like CelebA's top 10 identities
#                      (10 x 32 images, 64x64), `train --no-render`: wall seconds
#       and the same steps and head in PyTorch (benches/peer/vgg8_arcface.py) when a Python
#       that imports torch and sees CUDA is found (PEER_PYTHON, else python3). One table.
#
#   --quick     a tenth of the steps (at least 2), one warm-up step, 3 epochs of celeba-2d.
#   --budget    wall-clock seconds for all the timed commands together (default 420): each gets
#               a share of what is left and is stopped past it (shown as "timeout"), so the
#               whole script stays under 8 minutes.
#   --out       also write the table, the environment and each command's log there.
#   --dry-run   print what would run; run nothing.
#
# `--devices flex --no-torch --quick` checks the script on a machine without a GPU.
# Exit status: 1 when the smoke test or a benchmark failed (not when one was stopped by the
# budget), 0 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
log() { echo "[gpu] $*" >&2; }
die() { echo "gpu.sh: $*" >&2; exit 2; }
usage() { sed -n '2,45p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# --- pack -------------------------------------------------------------------------------------
if [[ "${1:-}" == pack ]]; then
    shift
    out="$repo/target/gpu-pack"
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --out) [[ $# -ge 2 ]] || die "--out needs a folder"; out="$2"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument to pack: $1 (see --help)" ;;
        esac
    done
    command -v xz >/dev/null || die "pack needs xz (Debian: xz-utils)"
    command -v strip >/dev/null || die "pack needs strip (Debian: binutils)"
    target="${CARGO_TARGET_DIR:-$HOME/.cache/arcface-lab/target-gpu}"
    bash "$repo/scripts/install-cuda-llvm.sh" >&2
    log "building: (cd $repo && CARGO_TARGET_DIR=$target cargo build --release -p cli --features cuda,wgpu)"
    start=$SECONDS
    (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release -p cli --features cuda,wgpu) >&2
    log "build: $((SECONDS - start)) s"
    mkdir -p "$out"
    tmp="$(mktemp "$out/.arcface-lab.XXXXXX")"
    trap 'rm -f "$tmp" "$tmp.xz"' EXIT
    cp "$target/release/arcface-lab" "$tmp"
    strip "$tmp"
    raw=$(stat -c %s "$target/release/arcface-lab")
    stripped=$(stat -c %s "$tmp")
    xz -6 -T0 -f "$tmp"
    packed=$(stat -c %s "$tmp.xz")
    mv -f "$tmp.xz" "$out/arcface-lab.xz"
    mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
    echo "arcface-lab --features cuda,wgpu: $(mib "$raw") built, $(mib "$stripped") stripped, $(mib "$packed") as $out/arcface-lab.xz"
    (( packed <= 64 * 1048576 )) || { echo "gpu.sh: the packed binary is over 64 MiB" >&2; exit 1; }
    exit 0
fi

# --- run: arguments ---------------------------------------------------------------------------
devices="cuda,wgpu"
packed=""
bin="${ARCFACE_BIN:-}"
quick=0
budget=420
torch=1
dry=0
outdir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --packed) [[ $# -ge 2 ]] || die "--packed needs a file"; packed="$2"; shift 2 ;;
        --bin) [[ $# -ge 2 ]] || die "--bin needs a path"; bin="$2"; shift 2 ;;
        --devices) [[ $# -ge 2 ]] || die "--devices needs a list"; devices="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --budget) [[ $# -ge 2 ]] || die "--budget needs a value"; budget="$2"; shift 2 ;;
        --no-torch) torch=0; shift ;;
        --out) [[ $# -ge 2 ]] || die "--out needs a folder"; outdir="$2"; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
IFS=',' read -r -a device_list <<<"$devices"
for d in "${device_list[@]}"; do
    case "$d" in cuda|wgpu|flex) ;; *) die "--devices takes cuda, wgpu and flex, not '$d'" ;; esac
done
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || die "--budget expects whole seconds"
command -v python3 >/dev/null || die "needs python3 (the smoke test's file list and the table)"

work="$(mktemp -d "${TMPDIR:-/tmp}/arcface-gpu.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [[ -n "$outdir" ]]; then
    mkdir -p "$outdir"
    logs="$outdir"
else
    logs="$work"
fi
if [[ -n "$packed" ]]; then
    [[ -f "$packed" ]] || die "no packed binary at $packed (make it with: benches/gpu.sh pack)"
    bin="$work/arcface-lab"
    if [[ "$dry" == 0 ]]; then
        xz -dc "$packed" >"$bin"
        chmod +x "$bin"
    fi
fi
[[ -n "$bin" ]] || die "no binary: give --packed FILE.xz (from benches/gpu.sh pack), --bin PATH or ARCFACE_BIN"
if [[ "$dry" == 0 ]]; then
    [[ -x "$bin" ]] || die "$bin is not an executable"
    "$bin" bench head --help >/dev/null 2>&1 || die "$bin has no 'bench' subcommand"
fi

# --- the environment: what the binary finds here ----------------------------------------------
{
    echo "host: $(uname -srm), $(nproc) cores"
    if command -v nvidia-smi >/dev/null 2>&1; then
        echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
    else
        echo "gpu: no nvidia-smi"
    fi
    for lib in libcuda.so.1 libnvrtc libnvidia-ml.so.1 libvulkan.so.1; do
        found="$( (ldconfig -p 2>/dev/null || true) | { grep -F "$lib" || true; } | head -n 2 | sed 's/.*=> //' | tr '\n' ' ')"
        echo "runtime library $lib: ${found:-not found by ldconfig}"
    done
} | tee "$logs/env.txt" >&2

# --- PyTorch ----------------------------------------------------------------------------------
py=""
torch_device=cpu
if [[ "$torch" == 1 ]]; then
    for candidate in "${PEER_PYTHON:-}" python3; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" 2>/dev/null; then
            py="$candidate"; break
        fi
    done
    if [[ -z "$py" ]]; then
        log "no Python that imports torch (PEER_PYTHON, python3): PyTorch column skipped"
    elif "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        torch_device=cuda
    elif [[ " ${device_list[*]} " == *" flex "* ]]; then
        torch_device=cpu   # the CPU check run: compare like with like
    else
        log "torch imports but sees no CUDA device: PyTorch column skipped"
        py=""
    fi
fi

# name | our bench | shape arguments (shared by both sides) | steps | warm-up
benches=(
    "mnist-step|step|--input 1x28x28 --batch 32 --classes 10 --dim 3|200|20"
    "celeba-step|step|--input 3x64x64 --batch 256 --classes 1000 --dim 512|50|5"
    "head|head|--batch 512 --classes 10177 --dim 512|100|10"
    "mnist-embed|embed|--input 1x28x28 --batch 256 --classes 10 --dim 3|100|10"
)

# --- timing under one budget ------------------------------------------------------------------
start_all=$SECONDS
results="$logs/results.jsonl"
: >"$results"
n_dev=${#device_list[@]}
# smoke (3 commands) + the benches + celeba-2d on each device, the benches in PyTorch.
commands=$(( n_dev * (4 + ${#benches[@]}) + (${#py} > 0 ? ${#benches[@]} : 0) ))
done_commands=0
failed=0
skip_devices=""   # devices whose smoke run failed

# Runs "$@" under a share of the remaining budget, its stdout in $logs/$tag.log and stderr in
# $logs/$tag.err. Sets $rc (124:
# stopped by the budget) and $seconds (wall time).
timed() {
    local tag="$1"; shift
    local left=$(( budget - (SECONDS - start_all) ))
    local share=$(( left / (commands > done_commands ? commands - done_commands : 1) ))
    done_commands=$((done_commands + 1))
    if [[ "$dry" == 1 ]]; then
        echo "would run: $*"
        rc=0; seconds=0
        return
    fi
    if (( share < 5 )); then
        log "$tag: no time left in the ${budget}s budget"
        rc=124; seconds=0
        return
    fi
    log "$tag (limit ${share}s): $*"
    local t0 t1
    t0=$(date +%s.%N)
    rc=0
    timeout --kill-after=5 "$share" "$@" >"$logs/$tag.log" 2>"$logs/$tag.err" || rc=$?
    (( rc == 137 )) && rc=124
    t1=$(date +%s.%N)
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    if (( rc != 0 && rc != 124 )); then
        log "$tag failed (exit $rc):"
        tail -n 8 "$logs/$tag.log" "$logs/$tag.err" >&2
    fi
}

# Appends a result line: name, side, label, then either a cell text or JSON fields.
record() {
    local name="$1" side="$2" label="$3" rest="$4"
    echo "{\"name\":\"$name\",\"side\":\"$side\",\"label\":\"$label\",$rest}" >>"$results"
}
outcome_text() {
    if (( rc == 124 )); then echo '"text":"timeout"'; else echo "\"text\":\"failed (exit $rc)\""; fi
}

# The smoke test's data: 4 identities x 12 images of 16x16, 3-D ArcFace, 2 epochs of 5 steps.
smoke_config() {
    cat >"$1" <<EOF
name = "smoke-$2"
out_dir = "$work/runs"
seed = 3

[data]
kind = "synthetic"
root = "$work/faces-16"
identities = 4
images_per_identity = 12
image_size = 16
val_fraction = 0.25

[model]
embedding_dim = 3
head = "arcface"
scale = 10.0
margin = 0.3

[train]
epochs = 2
batch_size = 8
num_workers = 1
EOF
}

# Largest |a - b| of two `embed` CSVs (header, then file,e0,e1,...) over the largest |a|.
relative_difference() {
    paste -d, "$1" "$2" | awk -F, 'NR > 1 {
        half = NF / 2
        for (i = 2; i <= half; i++) {
            a = $i; b = $(half + i); d = a - b
            if (d < 0) d = -d
            if (a < 0) a = -a
            if (d > worst) worst = d
            if (a > scale) scale = a
        }
        rows++
    } END {
        if (rows == 0 || scale == 0) { print "nan"; exit }
        printf "%.2e", worst / scale
    }'
}

smoke() {
    local dev="$1" config="$work/smoke-$dev.toml" run_dir="$work/runs/smoke-$dev"
    local label="10 steps, embed vs flex"
    smoke_config "$config" "$dev"
    timed "smoke-train-$dev" "$bin" train "$config" --device "$dev" --no-render
    if (( rc != 0 )); then
        record smoke "$dev" "$label" "$(outcome_text)"; failed=1
        # A device that cannot train 10 steps gets no more of the budget (its .err says why).
        skip_devices+=" $dev "
        done_commands=$((done_commands + 2))
        return
    fi
    if [[ "$dry" == 1 ]]; then
        timed "smoke-embed-$dev" "$bin" embed "$run_dir" --checkpoint last --device "$dev" "<its 12 val images>"
        timed "smoke-embed-flex-$dev" "$bin" embed "$run_dir" --checkpoint last --device flex "<the same>"
        return
    fi
    local losses
    losses="$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "train_loss") c = i; next }
        { printf "%s ", $c }' "$run_dir/metrics.csv")"
    # Every loss a finite positive number.
    if ! awk -v l="$losses" 'BEGIN { n = split(l, v, " "); if (n == 0) exit 1
            for (i = 1; i <= n; i++) if (!(v[i] + 0 > 0) || v[i] ~ /nan|inf/) exit 1 }'; then
        record smoke "$dev" "$label" "\"text\":\"bad losses: $losses\""; failed=1
        done_commands=$((done_commands + 2))
        return
    fi
    local files
    mapfile -t files < <(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    if r["split"] == "val": print(sys.argv[2] + "/img_align_celeba/" + r["file"])' \
        "$run_dir/splits.json" "$work/faces-16")
    timed "smoke-embed-$dev" "$bin" embed "$run_dir" --checkpoint last --device "$dev" "${files[@]}"
    local gpu_rc=$rc
    timed "smoke-embed-flex-$dev" "$bin" embed "$run_dir" --checkpoint last --device flex "${files[@]}"
    if (( gpu_rc != 0 || rc != 0 )); then
        rc=$(( gpu_rc != 0 ? gpu_rc : rc ))
        record smoke "$dev" "$label" "$(outcome_text)"; failed=1
        return
    fi
    local diff
    diff="$(relative_difference "$logs/smoke-embed-flex-$dev.log" "$logs/smoke-embed-$dev.log")"
    if awk -v d="$diff" 'BEGIN { exit !(d != "nan" && d + 0 <= 1e-2) }'; then
        record smoke "$dev" "$label" "\"text\":\"ok, diff $diff\""
    else
        record smoke "$dev" "$label" "\"text\":\"FAILED, diff $diff\""; failed=1
    fi
}

# "--input 3x64x64 --batch 256 --classes 1000 --dim 512" -> "3x64x64 b256 1000 cls 512-D"
shape_label() {
    local out=""
    while [[ $# -ge 2 ]]; do
        case "$1" in
            --input) out+="$2 " ;;
            --batch) out+="b$2 " ;;
            --classes) out+="$2 cls " ;;
            --dim) out+="$2-D" ;;
        esac
        shift 2
    done
    echo "$out"
}
# bench SIDE SPEC COMMAND...: COMMAND, then the bench's kind and shape, then ${extra[@]}.
bench() {
    local side="$1" spec="$2"; shift 2
    local name kind shape steps warmup
    IFS='|' read -r name kind shape steps warmup <<<"$spec"
    if [[ "$quick" == 1 ]]; then
        steps=$(( steps / 10 < 2 ? 2 : steps / 10 )); warmup=1
    fi
    # shellcheck disable=SC2086 # $shape is a list of arguments
    local label
    label="$(shape_label $shape) x$steps"
    # shellcheck disable=SC2086
    timed "$name-$side" "$@" "$kind" $shape --steps "$steps" --warmup "$warmup" "${extra[@]}"
    [[ "$dry" == 1 ]] && return
    local line
    line="$(grep '^{' "$logs/$name-$side.log" | tail -n 1 || true)"
    if (( rc == 0 )) && [[ -n "$line" ]]; then
        line="${line#\{}"
        record "$name" "$side" "$label" "${line%\}}"
    else
        (( rc == 124 )) || failed=1
        record "$name" "$side" "$label" "$(outcome_text)"
    fi
}

# 5 epochs of configs/celeba-2d.toml's recipe on synthetic faces shaped like CelebA's top 10.
celeba_2d() {
    local dev="$1" epochs=$(( quick == 1 ? 3 : 5 ))  # more than its 2 warm-up epochs
    local config="$work/celeba-2d-$dev.toml"
    {
        sed -n '/^\[model\]/,/^\[render\]/p' "$repo/configs/celeba-2d.toml" | sed '$d' \
            | sed "s/^epochs = .*/epochs = $epochs/"
    } >"$work/celeba-2d-model-train.toml"
    cat >"$config" <<EOF
name = "celeba-2d-$dev"
out_dir = "$work/runs"
seed = 58

[data]
kind = "synthetic"
root = "$work/faces-64"
identities = 10
images_per_identity = 32
image_size = 64
val_fraction = 0.2

$(cat "$work/celeba-2d-model-train.toml")
EOF
    local label="10 ids x 32, 64x64, x$epochs epochs"
    timed "celeba-2d-$dev" "$bin" train "$config" --device "$dev" --no-render
    [[ "$dry" == 1 ]] && return
    if (( rc == 0 )); then
        local per_epoch
        per_epoch="$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i; next }
            NR > 2 { s += $c; n++ } END { if (n) printf "%.2f", s / n; else print "null" }' \
            "$work/runs/celeba-2d-$dev/metrics.csv")"
        record celeba-2d "$dev" "$label" "\"seconds\":$seconds,\"epoch_s\":$per_epoch"
    else
        (( rc == 124 )) || failed=1
        record celeba-2d "$dev" "$label" "$(outcome_text)"
    fi
}

for dev in "${device_list[@]}"; do
    smoke "$dev"
done
# Records "skipped" for a device whose smoke run failed; true when it did.
skipped() {
    local name="$1" dev="$2" label="$3"
    [[ "$skip_devices" == *" $dev "* ]] || return 1
    done_commands=$((done_commands + 1))
    record "$name" "$dev" "$label" '"text":"skipped (smoke failed)"'
}
for spec in "${benches[@]}"; do
    for dev in "${device_list[@]}"; do
        skipped "${spec%%|*}" "$dev" "" && continue
        extra=(--device "$dev" --json)
        bench "$dev" "$spec" "$bin" bench
    done
    if [[ -n "$py" ]]; then
        extra=(--device "$torch_device")
        bench pytorch "$spec" "$py" "$here/peer/vgg8_arcface.py"
    fi
done
for dev in "${device_list[@]}"; do
    skipped celeba-2d "$dev" "" || celeba_2d "$dev"
done
[[ "$dry" == 1 ]] && exit 0

# --- the table --------------------------------------------------------------------------------
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
python3 - "$results" "${gpu_name:-no NVIDIA GPU}" "$devices" <<'EOF' | tee "$logs/table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gpu, devices = sys.argv[2], sys.argv[3].split(",")
sides = devices + (["pytorch"] if any(r["side"] == "pytorch" for r in rows) else [])
names = []
for r in rows:
    if r["name"] not in names:
        names.append(r["name"])
peer = next((r for r in rows if r["side"] == "pytorch" and "torch" in r), None)
print(f"arcface-lab on {gpu}" + (f"; pytorch {peer['torch']} ({peer['device']})" if peer else ""))
print("steps and head: images/s (ms a step); celeba-2d: wall s (s an epoch after the first)")
def cell(r):
    if r is None:
        return "-"
    if "text" in r:
        return r["text"]
    if "images_per_s" in r:
        return f"{r['images_per_s']:.0f} ({r['ms_per_step']:.2f} ms)"
    if "seconds" in r:
        e = r.get("epoch_s")
        return f"{r['seconds']:.1f} s" + (f" ({e:.2f})" if e is not None else "")
    return "?"
width = 26
print(f"{'bench':<12}{'shape':<36}" + "".join(f"{s:>{width}}" for s in sides))
for n in names:
    label = next((r["label"] for r in rows if r["name"] == n and r["label"]), "")
    cells = [cell(next((r for r in rows if r["name"] == n and r["side"] == s), None)) for s in sides]
    print(f"{n:<12}{label:<36}" + "".join(f"{c:>{width}}" for c in cells))
EOF
log "total $((SECONDS - start_all)) s of timed commands"
if (( failed )); then
    log "the smoke test or a benchmark failed (see above)"
    exit 1
fi
