#!/usr/bin/env bash
# The GPU benchmark on a machine with JAX (CUDA) and no TensorFlow, and no network.
#
#   bash benchmarks/gpu.sh pack [DIR]     # here, with PyPI: wheels + Fashion-MNIST -> DIR
#                                         #   (default shared/gpu-bundle; PY=3.12 for another Python;
#                                         #   numpy, scipy, ml_dtypes left out: JAX has them)
#   bash benchmarks/gpu.sh run [--quick]  # there, from the repository root: install offline, run
#
# `run` looks for the bundle in $AUTODL_GPU_BUNDLE, else shared/gpu-bundle. It never installs
# TensorFlow: autodl runs from the source tree (PYTHONPATH), its dependencies from the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

pack() {
    local dir=${1:-shared/gpu-bundle}
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
    local target=()
    if [ -n "${PY:-}" ]; then  # wheels for another interpreter than this one
        target=(--python-version "$PY" --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64
                --only-binary=:all:)
    fi
    python -m pip download --dest "$dir/wheels" "${target[@]}" -r "$dir/requirements.txt"
    # JAX brings these itself (about 50 MB of the bundle's 113 MB); SKIP_WHEELS="" keeps them.
    for name in ${SKIP_WHEELS-numpy scipy ml_dtypes}; do
        rm -f "$dir/wheels/$name"-*.whl
    done
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
    du -sh "$dir"/*
}

run() {
    local dir=${AUTODL_GPU_BUNDLE:-shared/gpu-bundle}
    python -c "import jax; print('jax', jax.__version__, jax.devices())"
    if python -c "import tensorflow" 2>/dev/null; then
        echo "note: TensorFlow is installed here; the benchmark runs on JAX regardless" >&2
    fi
    python -m pip install --no-index --find-links "$dir/wheels" -r "$dir/requirements.txt"
    KERAS_BACKEND=jax AUTODL_OFFLINE=1 AUTODL_DATA_DIR="$dir/fashion-mnist" PYTHONPATH="$PWD" \
        python -m benchmarks.run gpu "$@"
}

case "${1:-}" in
    pack) shift; pack "$@" ;;
    run) shift; run "$@" ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
