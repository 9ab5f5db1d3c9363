#!/usr/bin/env bash
# Installs the LLVM that `--features cuda` needs, from the Python package index, where Burn's
# build looks for it, so that the CUDA build works without GitHub.
#
# Why: cubecl-cuda always compiles kernels through cubecl-llvm, whose build dependency
# tracel-llvm-bundler downloads a prebuilt LLVM 23.1 from GitHub's release pages while cargo
# builds, unless its install folder already holds one (the marker file `.tracel-llvm-installed`
# next to `bin/llvm-config`). Machines that reach only the package registries (crates.io, PyPI, a
# mirror) cannot download it. PyPI carries a relocatable static LLVM 23.1 SDK with an
# `llvm-config`: mlc-llvm-static (X86) plus mlc-llvm-static-extra-targets (NVPTX, AMDGPU, ...).
# This script installs both into one venv, where their `mlc_llvm_static/static/` trees merge into
# one prefix, checks the prefix, and links it in as the bundler's install folder.
#
# Idempotent: a second run checks and changes nothing. It never replaces an LLVM it did not put
# there: it stops and says what to do instead.
#
# Needs: python3 with venv (Debian: python3-venv) and pip's access to PyPI (or a mirror through
# pip's own settings). The build that follows needs a C and C++ compiler (g++), python3 on PATH
# (this SDK's llvm-config is a Python script) and, to link, the development files of zlib and zstd
# (Debian: zlib1g-dev libzstd-dev). See README, "CUDA".
#
# Environment: XDG_CACHE_HOME (the venv: $XDG_CACHE_HOME/arcface-lab/cuda-llvm-venv),
# XDG_DATA_HOME (the bundler's folder: $XDG_DATA_HOME/tracel/tracel-llvm-<version>), as the
# bundler reads them; PYTHON (default python3).
set -euo pipefail

# The SDK on PyPI and the bundler version it stands in for. The bundler's folder name carries its
# own version, so a Burn upgrade that brings another bundler needs both updated here (the check
# against Cargo.lock below says so).
SDK_VERSION="23.1.1.post0"
BUNDLER_VERSION="23.1.0-4"
LLVM_MAJOR_MINOR="23.1"

say() { echo "install-cuda-llvm: $*"; }
die() { echo "install-cuda-llvm: error: $*" >&2; exit 1; }

REPO="$(cd "$(dirname "$0")/.." && pwd)"
LOCK="$REPO/Cargo.lock"
if [ -f "$LOCK" ]; then
    locked="$(awk '/^name = "tracel-llvm-bundler"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$LOCK")"
    if [ -n "$locked" ] && [ "$locked" != "$BUNDLER_VERSION" ]; then
        die "Cargo.lock pins tracel-llvm-bundler $locked but this script installs for $BUNDLER_VERSION: \
update BUNDLER_VERSION (and SDK_VERSION to an mlc-llvm-static of the same LLVM) in $0"
    fi
fi

[ -n "${HOME:-}" ] || die "HOME is not set: the bundler's folder and the cache are under it"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/arcface-lab"
VENV="$CACHE_DIR/cuda-llvm-venv"
# The bundler (dirs::data_local_dir) takes XDG_DATA_HOME only when it is an absolute path.
case "${XDG_DATA_HOME:-}" in
    /*) DATA_DIR="$XDG_DATA_HOME" ;;
    *) DATA_DIR="$HOME/.local/share" ;;
esac
BUNDLER_DIR="$DATA_DIR/tracel/tracel-llvm-$BUNDLER_VERSION"
SENTINEL=".tracel-llvm-installed"
PYTHON="${PYTHON:-python3}"

# Prints the version of the LLVM whose prefix is $1 ("" when there is no working llvm-config).
llvm_version() {
    [ -x "$1/bin/llvm-config" ] || return 0
    "$1/bin/llvm-config" --version 2>/dev/null || true
}

# Checks that the prefix $1 is the merged SDK: LLVM 23.1 with the NVPTX target, and every archive
# that `llvm-config --link-static --libs` names present (llvm-config itself checks that).
check_prefix() {
    local prefix="$1" version targets
    version="$(llvm_version "$prefix")"
    case "$version" in
        "$LLVM_MAJOR_MINOR".*) ;;
        *) die "$prefix/bin/llvm-config does not report LLVM $LLVM_MAJOR_MINOR (got '${version:-nothing}'); \
remove $VENV and run this script again" ;;
    esac
    targets="$("$prefix/bin/llvm-config" --targets-built)" \
        || die "$prefix/bin/llvm-config --targets-built failed"
    case " $targets " in
        *" NVPTX "*) ;;
        *) die "the LLVM in $prefix has no NVPTX target (targets: $targets): \
mlc-llvm-static-extra-targets==$SDK_VERSION is missing from $VENV; remove $VENV and run this script again" ;;
    esac
    "$prefix/bin/llvm-config" --link-static --libs >/dev/null \
        || die "the LLVM in $prefix is incomplete (see llvm-config's message above); remove $VENV and run this script again"
}

# 1. What is in the bundler's folder now?
if [ -L "$BUNDLER_DIR" ]; then
    current="$(readlink "$BUNDLER_DIR")"
    case "$current" in
        "$VENV"/*) ;; # ours, perhaps from an older venv: relinked below
        *) die "$BUNDLER_DIR is a link to $current, which this script did not make; leaving it. \
If that LLVM is the one you want, nothing is to be done; otherwise remove the link and run this script again" ;;
    esac
elif [ -e "$BUNDLER_DIR" ]; then
    version="$(llvm_version "$BUNDLER_DIR")"
    if [ -f "$BUNDLER_DIR/$SENTINEL" ] && [[ "$version" == "$LLVM_MAJOR_MINOR".* ]]; then
        # Burn's own download (or a copy of it): the bundler uses it as it is.
        say "$BUNDLER_DIR already holds LLVM $version, installed by tracel-llvm-bundler itself; nothing to do"
        exit 0
    fi
    die "$BUNDLER_DIR already exists and is not an LLVM $LLVM_MAJOR_MINOR this script installed \
($([ -n "$version" ] && echo "its llvm-config reports $version" || echo "no working bin/llvm-config"), \
marker $SENTINEL $([ -f "$BUNDLER_DIR/$SENTINEL" ] && echo present || echo absent)); \
refusing to overwrite it. Move it away (or delete it) and run this script again"
fi

# 2. The SDK in its venv (pip is skipped when both wheels are already there at this version).
installed() {
    "$VENV/bin/python" - "$SDK_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = sys.argv[1]
sys.exit(0 if all(version(p) == want for p in ("mlc-llvm-static", "mlc-llvm-static-extra-targets")) else 1)
PY
}
if [ -x "$VENV/bin/python" ] && installed; then
    say "mlc-llvm-static $SDK_VERSION is already in $VENV"
else
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3 (Debian: python3 python3-venv)"
    mkdir -p "$CACHE_DIR"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the venv $VENV"
        "$PYTHON" -m venv "$VENV" \
            || die "could not create a venv with $PYTHON (Debian: apt-get install python3-venv)"
    fi
    say "installing mlc-llvm-static==$SDK_VERSION and mlc-llvm-static-extra-targets==$SDK_VERSION (about 90 MB) from the package index"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "mlc-llvm-static==$SDK_VERSION" "mlc-llvm-static-extra-targets==$SDK_VERSION" \
        || die "pip could not install the LLVM SDK from the package index (see pip's message above): \
without it the cuda feature cannot be built offline"
    installed || die "pip finished but $VENV does not hold both packages at $SDK_VERSION"
fi

# Both wheels install under site-packages/mlc_llvm_static/static: that folder is the merged prefix.
PREFIX="$("$VENV/bin/python" -c 'import mlc_llvm_static; print(mlc_llvm_static.get_prefix())')" \
    || die "mlc_llvm_static does not import in $VENV; remove $VENV and run this script again"
check_prefix "$PREFIX"

# 3. The marker the bundler checks, then the link. The marker lives in the prefix, so the link
# carries it; the link is made under a temporary name and renamed, so the bundler never sees a
# half-made folder.
touch "$PREFIX/$SENTINEL"
mkdir -p "$(dirname "$BUNDLER_DIR")"
if [ "$(readlink "$BUNDLER_DIR" 2>/dev/null || true)" = "$PREFIX" ]; then
    say "$BUNDLER_DIR already links to $PREFIX"
else
    tmp="$BUNDLER_DIR.tmp.$$"
    ln -s "$PREFIX" "$tmp"
    mv -T "$tmp" "$BUNDLER_DIR"
    say "linked $BUNDLER_DIR -> $PREFIX"
fi
say "LLVM $(llvm_version "$BUNDLER_DIR") with NVPTX is ready; \`cargo build --release -p cli --features cuda\` needs no download now"
