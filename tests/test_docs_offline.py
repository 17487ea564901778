"""The documentation site works offline: no page loads a script, stylesheet or image from another host.

``docs/_tools/check_offline.py`` is the check (``.ci/run`` runs it on the full build); here it is tested on
pages with known loads, and on a page built with the project's ``docs/conf.py`` (skipped without the
``docs`` extra, which CI installs after the test run).
"""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "docs", "_tools"))
import check_offline  # noqa: E402

PAGE = """<html><head>
<script src="_static/local.js"></script>
<script defer src="{script}"></script>
<link rel="stylesheet" href="{css}"/>
<link rel="icon" href="_static/favicon.ico"/>
</head><body><a href="https://example.org/paper">a link is not a load</a>
<img src="data:image/png;base64,AAAA" srcset="{img} 2x"/></body></html>"""


def test_the_check_finds_remote_loads_and_allows_local_ones(tmp_path):
    (tmp_path / "ok.html").write_text(PAGE.format(script="_static/mathjax/tex-chtml.js", css="_static/a.css",
                                                  img="_images/b.png"))
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.css").write_text("@import 'b.css'; x { background: url(../_images/c.png) }")
    assert check_offline.remote_loads(tmp_path) == (1, 8, [])
    (tmp_path / "cdn.html").write_text(PAGE.format(
        script="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js", css="//fonts.example.com/f.css",
        img="http://example.com/b.png"))
    (tmp_path / "_static" / "web.css").write_text('@import url("https://fonts.example.com/css?family=X");')
    _, _, remote = check_offline.remote_loads(tmp_path)
    assert sorted(url for _, url in remote) == ["//fonts.example.com/f.css", "http://example.com/b.png",
                                                "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
                                                "https://fonts.example.com/css?family=X"]
    out = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "_tools", "check_offline.py"), str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "cdn.html: loads https://cdn.jsdelivr.net" in out.stdout


def test_a_page_built_with_the_projects_conf_loads_only_local_files(tmp_path):
    pytest.importorskip("sphinx")
    for ext in ("sphinx-mathjax-offline", "numpydoc", "pydata_sphinx_theme", "sphinxarg"):
        if importlib.util.find_spec(ext) is None:
            pytest.skip(f"{ext} not installed (pip install '.[docs]')")
    src, out = tmp_path / "src", tmp_path / "html"
    src.mkdir()
    (src / "index.rst").write_text("Formulas\n========\n\n.. math::\n\n   L = \\frac{\\sigma^2}{2}\\left(1 + "
                                   "\\frac{\\alpha_r^2 p}{n_r}\\right)\n\nand inline :math:`h_t \\times h_r`.\n")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "-c",
                            os.path.join(ROOT, "docs"), str(src), str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    pages, local, remote = check_offline.remote_loads(out)
    assert pages >= 1 and remote == []
    page = (out / "index.html").read_text()
    assert 'src="_static/mathjax/tex-chtml.js"' in page and (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (out / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()   # the math fonts
