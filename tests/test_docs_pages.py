"""The documentation pages' ``>>>`` examples print what the pages show (docs/_tools/run_page_examples.py)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["docs/tutorial.rst", "docs/howto/check.rst", "docs/howto/own_tasks.rst"]


@pytest.mark.statistical
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_print_what_the_page_shows(page):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "_tools", "run_page_examples.py"), page],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "examples pass" in out.stdout
