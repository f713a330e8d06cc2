#!/usr/bin/env bash
# Here, before the one device call: fetch the wheels hpsearch needs that the lent H200's image
# lacks (Python 3.12, x86-64; JAX and PyTorch are already there, TensorFlow is not and is not
# needed) into .whl/, and copy the CIFAR-10 subset into .device-data/. Both folders are ignored
# by git (.git/info/exclude) and travel only as the call's `carry`; the data is never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
grep -qx '/.device-data/' .git/info/exclude || echo '/.device-data/' >> .git/info/exclude
# The versions this checkout's own tests run with; the image's numpy, scipy and scikit-learn stay.
WHEELS="keras==3.15.1 optree==0.20.0 namex==0.1.0 optuna==5.1.0 alembic==1.20.1 mako==1.4.3
        sqlalchemy==2.1.9 colorlog==6.12.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
        typing-inspection==0.4.5 typer==0.29.2 click==8.5.1 rich==15.0.0"
rm -rf .whl && mkdir -p .whl .device-data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl $WHEELS
cp "${HPSEARCH_DATA:-../shared/data}/cifar10-subset.npz" .device-data/
du -sh .whl .device-data
