"""Check that a built documentation site loads nothing from another host.

Usage: ``python docs/_tools/check_offline.py [BUILD_DIR]`` (default: docs/_build/html).
Every ``*.html`` page is parsed for the resources a browser loads (``script src``, ``link href``,
``img``/``iframe``/``source``/``audio``/``video``/``embed src``, ``object data``) and every ``*.css``
file for ``url(...)`` and ``@import``; a reference with a host (``https://...``, ``//host/...``) is
reported with its file, and the exit status is 1.  Links (``a href``) are not loads and are allowed.
Prints the number of pages and local resources checked and exits 0 when everything is local.
"""
import pathlib
import re
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit

ROOT = pathlib.Path(__file__).resolve().parents[2]
LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src",
         "embed": "src", "track": "src", "link": "href", "object": "data"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def is_remote(url):
    """Return a URL with a host: ``https://cdn/x.js``, ``//cdn/x.js``; not ``_static/x.js`` or ``data:``."""
    return bool(urlsplit(url.strip()).netloc)


class _Loads(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if not value:
                continue
            if name == LOADS.get(tag):
                self.urls.append(value)
            elif name == "srcset":
                self.urls.extend(part.split()[0] for part in value.split(",") if part.strip())


def loads_in_html(text):
    """URLs a browser loads for one HTML page."""
    parser = _Loads()
    parser.feed(text)
    return parser.urls


def loads_in_css(text):
    """URLs a stylesheet loads (``url(...)``, ``@import``)."""
    return [a or b for a, b in CSS_URL.findall(text)]


def remote_loads(build_dir):
    """``(pages, local, [(file, url)])``: pages checked, local loads counted, remote loads found."""
    build_dir = pathlib.Path(build_dir)
    pages, local, remote = 0, 0, []
    for path in sorted(build_dir.rglob("*")):
        if path.suffix == ".html":
            pages += 1
            urls = loads_in_html(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".css":
            urls = loads_in_css(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        for url in urls:
            if is_remote(url):
                remote.append((str(path.relative_to(build_dir)), url))
            else:
                local += 1
    return pages, local, remote


def main(argv):
    build_dir = pathlib.Path(argv[0]) if argv else ROOT / "docs" / "_build" / "html"
    pages, local, remote = remote_loads(build_dir)
    if not pages:
        print(f"no HTML pages under {build_dir}")
        return 1
    for path, url in remote:
        print(f"{path}: loads {url} from another host")
    if remote:
        print(f"{len(remote)} loads from other hosts in {pages} pages: the site does not work offline")
        return 1
    print(f"{pages} pages, {local} resource loads, all local: the site works offline")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
