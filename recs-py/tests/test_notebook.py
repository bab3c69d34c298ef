"""examples/notebook.ipynb runs top to bottom in a real Jupyter kernel without a cell error."""

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from conftest import REPO, data_dir

NOTEBOOK = REPO / "examples" / "notebook.ipynb"


def run_notebook(env_data_dir, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel inherits this environment; point it at the data (or at nothing).
    old = os.environ.get("RECS_DATA_DIR")
    os.environ["RECS_DATA_DIR"] = str(env_data_dir)
    # The kernel must use Jupyter's inline backend (figures as image/png outputs).
    old_backend = os.environ.pop("MPLBACKEND", None)
    try:
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        if old_backend is not None:
            os.environ["MPLBACKEND"] = old_backend
        if old is None:
            os.environ.pop("RECS_DATA_DIR", None)
        else:
            os.environ["RECS_DATA_DIR"] = old
    return nb


def outputs(nb):
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                text.append(out["text"])
            for key in ("text/plain",):
                if key in out.get("data", {}):
                    text.append(out["data"][key])
    return "\n".join(text)


def has_image(nb):
    return any(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )


def test_notebook_on_movielens_100k(tmp_path):
    if not (data_dir() / "ml-100k" / "u.data").exists():
        print(f"skipping: no ML-100K under {data_dir()}", file=__import__("sys").stderr)
        pytest.skip(f"no ML-100K under {data_dir()}")
    nb = run_notebook(data_dir(), tmp_path)
    text = outputs(nb)
    assert "MovieLens 100K" in text
    assert has_image(nb), "the HR@K / NDCG@K plot is missing"
    # the last cell lists recommendations by title (MovieLens titles end with the year)
    last = outputs(nbformat.v4.new_notebook(cells=[nb.cells[-1]]))
    assert len(re.findall(r"\(\d{4}\)", last)) >= 10, last


def test_notebook_on_generated_data(tmp_path):
    nb = run_notebook(tmp_path / "no-data-here", tmp_path)
    text = outputs(nb)
    assert "generated" in text
    assert has_image(nb)
