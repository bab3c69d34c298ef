"""The public surface: docstrings, doctests of the native module, type stubs, errors."""

import ast
import doctest
import inspect
from pathlib import Path

import numpy as np
import pytest

import recs
from recs import _recs

STUB = Path(recs.__file__).with_name("_recs.pyi")
PUBLIC = sorted(n for n in dir(_recs) if not n.startswith("_"))


def _members(obj):
    for name, member in vars(obj).items():
        if name.startswith("_") and name not in ("__init__",):
            continue
        yield name, member


def test_everything_public_has_a_docstring():
    missing = []
    for name in PUBLIC:
        obj = getattr(_recs, name)
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if isinstance(obj, type):
            for mname, member in _members(obj):
                if not (getattr(member, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{mname}")
    assert not missing, f"no docstring: {missing}"


FUNCTIONS = [n for n in PUBLIC if not isinstance(getattr(_recs, n), type)]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_native_function_docstring_examples(name):
    """Runs the >>> examples of native functions. (Classes are declared in module ``recs`` and
    pytest --doctest-modules runs theirs; functions report ``recs._recs`` and would be missed.)"""
    obj = getattr(_recs, name)
    globs = {"recs": recs, "np": np}
    try:
        import pandas

        globs["pd"] = pandas
    except ImportError:
        pass
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    tests = finder.find(obj, f"recs.{name}", module=False, globs=globs)
    for t in tests:
        runner.run(t)
    assert tests and any(t.examples for t in tests), f"{name} has no >>> example"
    result = runner.summarize(verbose=False)
    assert result.failed == 0


def test_stub_lists_exactly_the_public_names():
    tree = ast.parse(STUB.read_text())
    stubbed = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            stubbed.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stubbed.add(node.target.id)
        elif isinstance(node, ast.Assign):
            stubbed.update(t.id for t in node.targets if isinstance(t, ast.Name))
    stubbed = {n for n in stubbed if not n.startswith("_")}
    assert stubbed == set(PUBLIC)


def test_stub_methods_exist_at_runtime():
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(_recs, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                    assert hasattr(cls, item.name), f"{node.name}.{item.name} in stub only"


def test_stub_signatures_match_runtime():
    """Parameter names in the stubs are those the native functions accept."""
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(_recs, node.name)
        for item in node.body:
            if not isinstance(item, ast.FunctionDef) or item.name.startswith("__"):
                continue
            member = inspect.getattr_static(cls, item.name)
            if isinstance(member, property) or type(member).__name__ == "getset_descriptor":
                continue
            try:
                sig = inspect.signature(getattr(cls, item.name))
            except (TypeError, ValueError):
                continue
            runtime = [p for p in sig.parameters if p not in ("self", "cls")]
            stub = [a.arg for a in item.args.args + item.args.kwonlyargs if a.arg not in ("self", "cls")]
            assert runtime == stub, f"{node.name}.{item.name}: runtime {runtime} vs stub {stub}"


def test_error_types():
    assert issubclass(recs.RecsError, Exception)
    with pytest.raises(ValueError, match="invalid parameter"):
        recs.Popularity(min_value=float("nan"))
    with pytest.raises(IndexError):
        recs.Popularity().fit(recs.Interactions.from_arrays([0], [0])).recommend(0, items=[3])
    with pytest.raises(OSError):
        recs.load("/definitely/not/here.recs")


def test_package_reexports_native_module():
    assert recs.__version__ == _recs.__version__
    assert set(recs.__all__) == set(PUBLIC)
    assert recs.Interactions.__module__ == "recs"
    assert "fit" in (recs.Recommender.fit.__doc__ or "")
