#!/usr/bin/env bash
# Gather the wheels the GPU machine lacks (it has torch, torchvision, numpy, pandas, matplotlib,
# seaborn, scikit-learn... but not fastai, papermill, nbformat/nbclient or the kit itself) into .whl/,
# for Python 3.12 on x86_64. Usage, from the repository root:
#   bash benchmarks/gather_wheels.sh            # -> .whl/*.whl  (git-ignored)
# Then, on the device (carry [".whl"]):
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
cd "$(dirname "$0")/.."
out=.whl
rm -rf "$out"; mkdir -p "$out"
platforms=()
for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
# What the kit needs on the device beyond that image: fastai (vision parts import without spacy),
# fastprogress (needs python-fasthtml), papermill with its notebook machinery, ipykernel for a kernel,
# submitit (jobs) and accelerate (several GPUs).
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" -d "$out" \
    fastai fastprogress papermill nbclient nbformat nbconvert ipykernel tabulate submitit accelerate
# Drop what the image already has (see the device tool's KINDS.md), so nothing there is replaced.
has="torch torchvision torchaudio triton numpy pandas matplotlib seaborn scikit_learn scipy pillow requests pyyaml \
     tqdm packaging jinja2 markupsafe pygments psutil typing_extensions filelock fsspec networkx sympy mpmath \
     nvidia cuda setuptools wheel pip six python_dateutil pytz tzdata attrs click aiohttp yarl multidict \
     frozenlist aiosignal propcache idna certifi charset_normalizer urllib3 joblib threadpoolctl contourpy \
     cycler fonttools kiwisolver pyparsing rich markdown_it_py mdurl"
for name in $has; do rm -f "$out"/${name}-*.whl "$out"/${name}_*.whl 2>/dev/null || true; done
# fastai's vision parts import without spaCy (text only): leave its stack behind (it would not fit the 64 MiB carry).
for name in spacy spacy_legacy spacy_loggers thinc blis cymem murmurhash preshed srsly catalogue confection wasabi \
            weasel cloudpathlib smart_open langcodes language_data marisa_trie typer; do
  rm -f "$out"/${name}-*.whl 2>/dev/null || true; done
ls "$out" | sed 's/-[0-9].*//' | sort | uniq -d | sed 's/^/duplicate: /'
du -sh "$out"; ls "$out" | wc -l
