"""The documentation pages' ``>>>`` examples print what the pages show (docs/_tools/run_page_examples.py)."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["docs/tutorial.rst", "docs/howto/check.rst", "docs/howto/own_tasks.rst"]


@pytest.fixture(scope="module")
def page_run(request):
    """Run the selected pages in one child process (one import of linmeta; each page gets its own namespace)."""
    name = "test_page_examples_print_what_the_page_shows"
    selected = [item.callspec.params["page"] for item in request.session.items
                if item.path == request.path and getattr(item, "originalname", "") == name]
    return subprocess.run([sys.executable, os.path.join(ROOT, "docs", "_tools", "run_page_examples.py"),
                           *dict.fromkeys(selected)], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.statistical
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_print_what_the_page_shows(page, page_run):
    summary = re.search(rf"^{re.escape(page)}: (\d+)/(\d+) examples pass$", page_run.stdout, re.MULTILINE)
    assert summary, page_run.stdout[-4000:] + page_run.stderr[-2000:]
    passed, attempted = map(int, summary.groups())
    assert passed == attempted > 0, page_run.stdout[-4000:] + page_run.stderr[-2000:]
