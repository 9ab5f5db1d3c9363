#!/usr/bin/env bash
# GPU throughput of arcface-lab (and of the PyTorch re-implementation in
# benches/peer/vgg8_arcface.py when `import torch` works and sees a CUDA device), one table:
#
#   mnist-step   VGG8 + ArcFace training step, 1x28x28, batch 32, 10 classes, 3-D (the seed's)
#   celeba-step  VGG8 + ArcFace training step, 3x64x64, batch 256, 1,000 classes, 512-D
#   head         ArcFace head forward + backward, batch 512, 10,177 classes (all of CelebA's
#                identities), 512-D
#
#   benches/gpu.sh [--device cuda|wgpu|flex] [--quick] [--budget SECONDS] [--no-torch] [--dry-run]
#
#   --device    our backend (default cuda). `flex` (CPU) only checks the script on a machine
#               without a GPU; use --quick with it.
#   --quick     a tenth of the steps (at least 2), one warm-up step.
#   --budget    wall-clock seconds for all the timed commands together (default 420); each
#               command gets a share of what is left and is stopped (shown as "timeout") past it,
#               so the whole script stays under 8 minutes once the binary exists.
#   --no-torch  skip the PyTorch column.
#   --dry-run   print the commands and the table layout, run nothing, build nothing.
#
# Environment:
#   ARCFACE_BIN       the arcface-lab binary to time (built with the backend's feature). Unset:
#                     `cargo build --release -p cli --features cuda` (or wgpu) into
#                     CARGO_TARGET_DIR (default $HOME/.cache/arcface-lab/target-<device>).
#                     NOTE: the cuda feature's build script downloads an LLVM bundle, so that
#                     build needs network access; on a GPU machine without it, build elsewhere
#                     and pass ARCFACE_BIN.
#   PEER_PYTHON       the Python with torch (default: python3 if it imports torch, else the venv
#                     of benches/peer/compare.sh, ${PEER_VENV:-$HOME/.cache/arcface-lab/peer-venv})
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

device=cuda
quick=0
budget=420
torch=1
dry=0
usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --device) [[ $# -ge 2 ]] || { echo "gpu.sh: --device needs a value" >&2; exit 2; }; device="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --budget) [[ $# -ge 2 ]] || { echo "gpu.sh: --budget needs a value" >&2; exit 2; }; budget="$2"; shift 2 ;;
        --no-torch) torch=0; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$device" in
    cuda|wgpu|flex) ;;
    *) echo "gpu.sh: --device must be cuda, wgpu or flex, not '$device'" >&2; exit 2 ;;
esac
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || { echo "gpu.sh: --budget expects whole seconds" >&2; exit 2; }
log() { echo "[gpu] $*" >&2; }

# name | our bench | shape arguments (shared by both sides) | steps | warm-up
benches=(
    "mnist-step|step|--input 1x28x28 --batch 32 --classes 10 --dim 3|200|20"
    "celeba-step|step|--input 3x64x64 --batch 256 --classes 1000 --dim 512|50|5"
    "head|head|--batch 512 --classes 10177 --dim 512|100|10"
)

# --- our binary -------------------------------------------------------------------------------
if [[ -n "${ARCFACE_BIN:-}" ]]; then
    bin="$ARCFACE_BIN"
else
    target="${CARGO_TARGET_DIR:-$HOME/.cache/arcface-lab/target-$device}"
    bin="$target/release/arcface-lab"
    features=()
    [[ "$device" == flex ]] || features=(--features "$device")
    build=(cargo build --release -p cli "${features[@]}")
    if [[ "$dry" == 1 ]]; then
        echo "would build: (cd $repo && CARGO_TARGET_DIR=$target ${build[*]})"
    else
        [[ "$device" == cuda ]] && log "building with --features cuda: its build script downloads an LLVM bundle (needs network)"
        log "(cd $repo && CARGO_TARGET_DIR=$target ${build[*]})"
        (cd "$repo" && CARGO_TARGET_DIR="$target" "${build[@]}") >&2
    fi
fi
if [[ "$dry" == 0 ]]; then
    [[ -x "$bin" ]] || { log "no arcface-lab binary at $bin"; exit 1; }
    "$bin" bench head --help >/dev/null 2>&1 || { log "$bin has no 'bench' subcommand"; exit 1; }
fi

# --- PyTorch ----------------------------------------------------------------------------------
py=""
torch_device=cpu
if [[ "$torch" == 1 ]]; then
    venv_py="${PEER_VENV:-$HOME/.cache/arcface-lab/peer-venv}/bin/python"
    for candidate in "${PEER_PYTHON:-}" python3 "$venv_py"; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" 2>/dev/null; then
            py="$candidate"; break
        fi
    done
    if [[ -z "$py" ]]; then
        log "no Python that imports torch (tried \$PEER_PYTHON, python3, $venv_py): PyTorch column skipped"
    elif "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        torch_device=cuda
    elif [[ "$device" == flex ]]; then
        torch_device=cpu   # the CPU check run: compare like with like
    else
        log "torch imports but sees no CUDA device: PyTorch column skipped"
        py=""
    fi
fi

# --- timing -----------------------------------------------------------------------------------
start_all=$SECONDS
results="$(mktemp "${TMPDIR:-/tmp}/arcface-gpu.XXXXXX")"
trap 'rm -f "$results"' EXIT
commands=$(( ${#benches[@]} * (1 + (${#py} > 0 ? 1 : 0)) ))
done_commands=0

# Runs one command under a share of the remaining budget; appends its JSON line (or a
# {"timeout"/"error"} line) tagged with the bench name and side.
run_one() {
    local name="$1" side="$2" label="$3"; shift 3
    local left=$(( budget - (SECONDS - start_all) ))
    local share=$(( left / (commands - done_commands) ))
    done_commands=$((done_commands + 1))
    if [[ "$dry" == 1 ]]; then
        echo "would run (limit: a share of ${budget}s): $*"
        return
    fi
    if (( share < 5 )); then
        log "$name/$side: no time left in the ${budget}s budget"
        echo "{\"name\":\"$name\",\"side\":\"$side\",\"label\":\"$label\",\"error\":\"no time left\"}" >>"$results"
        return
    fi
    log "$name/$side (limit ${share}s): $*"
    local out rc=0
    out="$(timeout --kill-after=5 "$share" "$@" 2>"$results.err")" || rc=$?
    local line
    line="$(grep '^{' <<<"$out" | tail -n 1 || true)"
    if (( rc == 124 || rc == 137 )); then
        echo "{\"name\":\"$name\",\"side\":\"$side\",\"label\":\"$label\",\"error\":\"timeout ${share}s\"}" >>"$results"
    elif (( rc != 0 )) || [[ -z "$line" ]]; then
        log "$name/$side failed (exit $rc):"; tail -n 5 "$results.err" >&2
        echo "{\"name\":\"$name\",\"side\":\"$side\",\"label\":\"$label\",\"error\":\"exit $rc\"}" >>"$results"
    else
        # Tag the line with the bench name and side, without needing jq.
        echo "{\"name\":\"$name\",\"side\":\"$side\",\"label\":\"$label\",${line#\{}" >>"$results"
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

for spec in "${benches[@]}"; do
    IFS='|' read -r name kind shape steps warmup <<<"$spec"
    if [[ "$quick" == 1 ]]; then
        steps=$(( steps / 10 < 2 ? 2 : steps / 10 )); warmup=1
    fi
    # shellcheck disable=SC2086 # $shape is a list of arguments
    label="$(shape_label $shape) x$steps"
    run_one "$name" ours "$label" "$bin" bench "$kind" $shape --steps "$steps" --warmup "$warmup" --device "$device" --json
    if [[ -n "$py" ]]; then
        # shellcheck disable=SC2086
        run_one "$name" pytorch "$label" "$py" "$here/peer/vgg8_arcface.py" "$kind" $shape --steps "$steps" \
            --warmup "$warmup" --device "$torch_device"
    fi
done
rm -f "$results.err"
[[ "$dry" == 1 ]] && exit 0

# --- the table --------------------------------------------------------------------------------
summarize() {
python3 - "$@" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
device, gpu = sys.argv[2], sys.argv[3]
names = []
for r in rows:
    if r["name"] not in names:
        names.append(r["name"])
def ok(r):
    return r is not None and "error" not in r
def cell(r):
    if r is None:
        return f"{'skipped':>22}"
    if "error" in r:
        return f"{r['error']:>22}"
    return f"{r['images_per_s']:>12.1f} {r['ms_per_step']:>7.2f}ms"
peer = next((r for r in rows if r["side"] == "pytorch" and ok(r)), None)
peer_name = f"pytorch {peer['torch']} ({peer['device']})" if peer else "pytorch"
print(f"arcface-lab --device {device}" + (f" on {gpu}" if gpu else "") + f" vs {peer_name}: images/s, ms/step")
print(f"{'bench':<12}{'shape':<36}{'ours':>22}{'pytorch':>22}{'ours/pt':>9}")
for n in names:
    o = next((r for r in rows if r["name"] == n and r["side"] == "ours"), None)
    p = next((r for r in rows if r["name"] == n and r["side"] == "pytorch"), None)
    shape = (o or p or {}).get("label", "?")
    ratio = f"{o['images_per_s'] / p['images_per_s']:.2f}x" if ok(o) and ok(p) else ""
    print(f"{n:<12}{shape:<36}{cell(o)}{cell(p)}{ratio:>9}")
EOF
}
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
if command -v python3 >/dev/null 2>&1; then
    summarize "$results" "$device" "$gpu_name"
else
    cat "$results"
fi
log "total $((SECONDS - start_all))s of timed commands"
# A command that crashed is a failure; one stopped by the budget is only reported.
if grep -q '"error":"exit' "$results"; then
    log "some benchmarks failed (see above)"
    exit 1
fi
