#!/usr/bin/env bash
# Builds the recs Python extension into a venv and runs its tests.
#
#   scripts/py-test.sh            # venv at .venv, dev-profile build, pytest + doctests + notebook
#   RECS_PY_PROFILE=release scripts/py-test.sh
#   scripts/py-test.sh -k recommend   # extra arguments go to pytest
#
# Environment:
#   RECS_VENV        venv folder (default: <repo>/.venv, gitignored)
#   RECS_PY_PROFILE  cargo profile for `maturin develop` (default: dev; the workspace dev profile
#                    optimises dependencies at -O2 and recs at -O1, which keeps the build short on
#                    2 cores and the tests fast)
#   RECS_DATA_DIR    MovieLens folder (default: <repo>/../shared/data); tests skip what is absent
#   PYTHON           interpreter used to create the venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RECS_VENV:-$ROOT/.venv}"
PROFILE="${RECS_PY_PROFILE:-dev}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "py-test: creating venv $VENV"
    "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"

# Quiet, idempotent install: pip skips what is already satisfied.
python -m pip install --quiet --disable-pip-version-check \
    "maturin==1.16.*" numpy scipy pandas pytest nbclient ipykernel nbformat matplotlib

# The kernel the notebook test runs in is the venv's own interpreter.
python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (recs venv)" >/dev/null

cd "$ROOT/recs-py"
echo "py-test: maturin develop --profile $PROFILE"
maturin develop --quiet --profile "$PROFILE"

cd "$ROOT"
# One pytest run: the suite in recs-py/tests and the >>> examples of the installed package
# (docstrings of the native module and of python/recs).
python -m pytest -q recs-py/tests recs-py/python/recs --doctest-modules -p no:cacheprovider "$@"
