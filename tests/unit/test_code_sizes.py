"""Module and function sizes: no product module over 400 lines, no function over 80.

Small modules with one concept each, and functions that fit on a screen, are how the
code stays readable (docs/architecture.md). A module or function that must be longer
says why where it stands: a `# size: <reason>` comment

- for a module: at the start of a line in its header, before its first `def` or
  `class` and not on the line just above it (that one speaks for the function);
- for a function: on the line above its `def` (or above its decorators), on the `def`
  line, or after code on a line of its signature.

So the exceptions are visible in the code, not kept in a list here. The product
packages are the import-linter root packages (pyproject.toml); tests and benchmarks
are not product code.
"""

from __future__ import annotations

import ast
import io
import tokenize
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MARK = "# size:"

# Modules over the line limit that are being split in work of their own; each entry
# goes when its split lands (the test below fails once an entry is no longer needed).
BEING_SPLIT_ELSEWHERE: frozenset[str] = frozenset()


def product_packages() -> list[str]:
    """The packages the import-linter contracts cover: all the shipped code."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages: list[str] = cfg["tool"]["importlinter"]["root_packages"]
    return packages


def product_modules() -> list[Path]:
    return sorted(p for pkg in product_packages() for p in (REPO / pkg).rglob("*.py"))


def _marks(source: str) -> dict[int, str]:
    """Line number -> the reason of each `# size:` comment with a reason given."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and tok.string.startswith(MARK):
            reason = tok.string[len(MARK):].strip()
            if reason:
                out[tok.start[0]] = reason
    return out


def _top(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    """The first line of a definition, its decorators included."""
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _header_end(tree: ast.Module, n_lines: int) -> int:
    """The last line a module's `# size:` may stand on: before its first definition and
    not right above it."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return _top(node) - 2
    return n_lines


def oversized(name: str, source: str, *, module_limit: int = MAX_MODULE_LINES,
              function_limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every module or function of `source` over its limit without a `# size:` reason."""
    tree = ast.parse(source)
    marks = _marks(source)
    lines = source.splitlines()
    problems = []
    if len(lines) > module_limit:
        header_end = _header_end(tree, len(lines))
        header_marked = any(n <= header_end and lines[n - 1].startswith(MARK) for n in marks)
        if not header_marked:
            problems.append(f"{name}: {len(lines)} lines (limit {module_limit}); split it "
                            f"along its seams or say why in a '{MARK}' header comment")
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length <= function_limit:
            continue
        top, body = _top(node), node.body[0].lineno
        above_or_on = [n for n in marks if top - 1 <= n <= node.lineno]
        in_signature = [n for n in marks if node.lineno < n < body
                        and not lines[n - 1].lstrip().startswith("#")]
        if not above_or_on and not in_signature:
            problems.append(f"{name}:{node.lineno}: {node.name} is {length} lines (limit "
                            f"{function_limit}); split it or say why in a '{MARK}' comment")
    return problems


def _body(n: int) -> str:
    return "".join(f"    x{i} = {i}\n" for i in range(n))


class TestChecker:
    """The checker finds what is over its limit and honours a reason given in place."""

    def test_a_long_function_is_reported(self) -> None:
        """A function one line over the limit is named with its length."""
        src = "def f() -> None:\n" + _body(5)
        assert oversized("m.py", src, function_limit=6) == []
        (problem,) = oversized("m.py", src, function_limit=5)
        assert problem.startswith("m.py:1: f is 6 lines (limit 5)")

    def test_methods_and_nested_functions_count_too(self) -> None:
        """Functions inside classes and inside functions are measured on their own."""
        src = ("class C:\n    def g(self) -> None:\n" + _body(6).replace("    ", "        ")
               + "def outer() -> None:\n    def inner() -> None:\n"
               + _body(6).replace("    ", "        ") + "    inner()\n")
        problems = oversized("m.py", src, function_limit=5)
        assert sorted(p.split(": ")[1].split(" ")[0] for p in problems) == ["g", "inner",
                                                                              "outer"]

    @pytest.mark.parametrize("src", [
        "# size: one table, read top to bottom\ndef f() -> None:\n" + _body(9),
        "# size: a dispatch\n@staticmethod\ndef f() -> None:\n" + _body(9),
        "def f() -> None:  # size: one state machine\n" + _body(9),
        "def f(\n    a: int,  # size: one state machine\n) -> None:\n" + _body(9),
    ])
    def test_a_reason_in_place_exempts_a_function(self, src: str) -> None:
        """Above the def or its decorators, on it, or in its signature."""
        assert oversized("m.py", src, function_limit=5) == []

    @pytest.mark.parametrize("src", [
        "# size:\ndef f() -> None:\n" + _body(9),  # no reason given
        "# size: about g\n\ndef f() -> None:\n" + _body(9),  # not next to the def
        "def f() -> None:\n    # size: too late, inside the body\n" + _body(9),
    ])
    def test_a_mark_without_a_reason_or_out_of_place_does_not(self, src: str) -> None:
        """An empty reason, or a comment away from the def, exempts nothing."""
        assert len(oversized("m.py", src, function_limit=5)) == 1

    def test_a_long_module_is_reported_unless_its_header_says_why(self) -> None:
        """The module reason must sit in the header; a function's mark does not count."""
        defs = "".join(f"def f{i}() -> None:\n    pass\n" for i in range(3))
        assert len(oversized("m.py", '"""Doc."""\n' + defs, module_limit=5)) == 1
        late = '"""Doc."""\n' + defs + "# size: said too late\nX = 1\n"
        assert len(oversized("m.py", late, module_limit=5)) == 1
        on_def = '"""Doc."""\n\n# size: about f0 only\n' + defs
        assert len(oversized("m.py", on_def, module_limit=5)) == 1
        apart = '"""Doc."""\n# size: generated tables\n\n' + defs
        assert oversized("m.py", apart, module_limit=5) == []


class TestProductCode:
    """The shipped packages keep to the limits, or say why where they do not."""

    def test_the_packages_are_found(self) -> None:
        """The walk sees the product packages (a renamed setting would check nothing)."""
        found = {p.relative_to(REPO).parts[0] for p in product_modules()}
        assert {"common", "producers", "streams", "sinks", "rackwatch"} <= found

    def test_no_module_or_function_over_its_limit(self) -> None:
        """Every module under 400 lines and every function under 80, or a reason."""
        problems = []
        for path in product_modules():
            rel = path.relative_to(REPO).as_posix()
            found = oversized(rel, path.read_text())
            if rel in BEING_SPLIT_ELSEWHERE:
                found = [p for p in found if not p.startswith(f"{rel}: ")]
            problems.extend(found)
        assert problems == [], "\n".join(problems)

    def test_the_being_split_list_is_still_needed(self) -> None:
        """An entry goes once its module is split (or gone)."""
        stale = [rel for rel in sorted(BEING_SPLIT_ELSEWHERE)
                 if not (REPO / rel).is_file()
                 or len((REPO / rel).read_text().splitlines()) <= MAX_MODULE_LINES]
        assert stale == [], f"remove from BEING_SPLIT_ELSEWHERE: {stale}"
