"""The house's layout: production packages never import the tests' benchmarks and loopback stand-ins, and
those live in one place (tests/bench, tests/loopback)."""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PRODUCTION = ["config", "scheduler", "scrapers", "channels_app"]


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_production_code_never_imports_tests_benchmarks_or_stand_ins():
    offenders = []
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            for module in imported_modules(path):
                if module == "tests" or module.startswith("tests."):
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_benchmarks_and_stand_ins_live_only_under_tests():
    strays = [
        str(path.relative_to(ROOT))
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
        if "bench" in path.stem or path.stem.startswith("fake_") or "bench" in path.parent.name
    ]
    assert strays == []
    assert (ROOT / "tests" / "bench" / "management" / "commands" / "bench.py").is_file()
    assert {"djen.py", "wuzapi.py"} <= {path.name for path in (ROOT / "tests" / "loopback").iterdir()}
