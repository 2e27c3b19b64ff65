#!/usr/bin/env bash
# The GPU benchmark on a machine with JAX (CUDA) and no TensorFlow, and no network.
#
#   bash benchmarks/gpu.sh pack [DIR]     # here, with PyPI: wheels + Fashion-MNIST -> DIR
#                                         #   (default .gpu-bundle, git-ignored; PY=3.12 by default:
#                                         #   the GPU image's Python; PY=3.11 to rehearse here)
#   bash benchmarks/gpu.sh run [--quick]  # there, from the repository root: install offline, run
#
# `run` looks for the bundle in $AUTODL_GPU_BUNDLE, else .gpu-bundle. It never installs
# TensorFlow: autodl runs from the source tree (PYTHONPATH), its dependencies from the wheels
# and the machine's own packages. With $OUT set (the device tool's output folder), the result
# JSON, the run's run.json and trials.json, and the log are copied there.
# With the device tool: run(command="bash benchmarks/gpu.sh run", carry=[".gpu-bundle"]).
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT_MB=60  # the device tool carries 64 MiB in all, this tree included

pack() {
    local dir=${1:-.gpu-bundle} py=${PY:-3.12}
    rm -rf "$dir/wheels"
    mkdir -p "$dir/wheels" "$dir/fashion-mnist"
    # autodl's install_requires without TensorFlow and TensorBoard (JAX replaces them there).
    python - > "$dir/requirements.txt" <<'EOF'
import configparser
cfg = configparser.ConfigParser()
cfg.read("setup.cfg")
for line in cfg["options"]["install_requires"].splitlines():
    name = line.split("#")[0].strip()
    if name and not name.lower().startswith(("tensorflow", "tensorboard")):
        print(name)
EOF
    local pyver=${py/./}
    python -m pip download --dest "$dir/wheels" --only-binary=:all: --python-version "$py" --implementation cp \
        --abi "cp$pyver" --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        --platform any -r "$dir/requirements.txt"
    # Wheels over 1 MB of projects the image already has stay here (numpy, scipy, pandas, ...).
    python - "$dir/wheels" benchmarks/gpu_image.txt <<'EOF'
import re, sys
from pathlib import Path
wheels, listing = Path(sys.argv[1]), Path(sys.argv[2])
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
present = {norm(l.strip()) for l in listing.read_text().splitlines() if l.strip() and not l.startswith("#")}
for wheel in sorted(wheels.glob("*.whl")):
    if norm(wheel.name.split("-")[0]) in present and wheel.stat().st_size > 2**20:
        print(f"left out (the image has it): {wheel.name}")
        wheel.unlink()
EOF
    # The dataset, from wherever autodl finds it here (Debian's dataset-fashion-mnist, Keras' cache...).
    python - "$dir/fashion-mnist" <<'EOF'
import shutil, sys
from pathlib import Path
from autodl.data.keras_sets import candidate_paths
names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
for folder in candidate_paths("fashion_mnist", None):
    folder = Path(folder)
    if all((folder / n).is_file() for n in names):
        for n in names:
            shutil.copy2(folder / n, sys.argv[1])
        print(f"Fashion-MNIST copied from {folder}")
        break
else:
    sys.exit("Fashion-MNIST not found here: install dataset-fashion-mnist or run autodl once online")
EOF
    ls "$dir/wheels"
    du -sh "$dir"/*
    local total
    total=$(du -sm "$dir" | cut -f1)
    if [ "$total" -gt "$LIMIT_MB" ]; then
        echo "the bundle is ${total} MB, over ${LIMIT_MB} MB: the device tool would refuse it" >&2
        exit 1
    fi
    echo "bundle: $dir (${total} MB)"
}

run() {
    local dir=${AUTODL_GPU_BUNDLE:-.gpu-bundle} py=${PYTHON:-python3}
    local log=${OUT:-/tmp}/gpu-bench.log
    "$py" -c "import jax; print('jax', jax.__version__, jax.devices())"
    if "$py" -c "import tensorflow" 2>/dev/null; then
        echo "note: TensorFlow is installed here; the benchmark runs on JAX regardless" >&2
    fi
    # pip resolves against what the machine has and takes only the missing ones from the bundle.
    "$py" -m pip install -q --no-index --find-links "$dir/wheels" -r "$dir/requirements.txt"
    # This process probes the GPU (jax.devices()) before the workers start: without this JAX
    # would preallocate 75% of its memory here, and the workers' shares would not fit.
    set +e
    XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax AUTODL_OFFLINE=1 \
        AUTODL_DATA_DIR="$dir/fashion-mnist" PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 \
        "$py" -m benchmarks.run gpu "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    if [ -n "${OUT:-}" ]; then
        cp benchmarks/results/gpu*.json "$OUT"/ 2>/dev/null || true
        local latest
        latest=$(ls -td benchmarks/results/runs/gpu-* 2>/dev/null | head -n 1)
        if [ -n "$latest" ]; then
            cp "$latest/run.json" "$OUT/run.json" 2>/dev/null || true
            cp "$latest/trials.json" "$OUT/trials.json" 2>/dev/null || true
        fi
    fi
    return "$rc"
}

case "${1:-}" in
    pack) shift; pack "$@" ;;
    run) shift; run "$@" ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
esac
