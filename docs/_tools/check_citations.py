"""Check that every ``(docs: theory, TAG, ...)`` citation names a label of docs/theory.rst.

Usage: ``python docs/_tools/check_citations.py [DIR ...]`` (default: linmeta derivations tests).
Prints each unknown tag with its file and line and exits 1 if there is one, else prints the tags
cited and exits 0.  Tags are the equation tags (``.. _eq-TAG:``) and section names
(``.. _sec-NAME:``) of the theory page, compared case-insensitively as Sphinx does.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
THEORY = ROOT / "docs" / "theory.rst"
CITATION = re.compile(r"docs: theory,\s*((?:[A-Za-z][A-Za-z0-9]*(?:,\s*)?)+)")


def labels():
    """Tags the theory page defines: ``eq-T1`` -> ``t1``, ``sec-protocols`` -> ``protocols``."""
    found = re.findall(r"^\.\. _(?:eq|sec)-([A-Za-z0-9]+):", THEORY.read_text(), flags=re.M)
    return {name.lower() for name in found}


def citations(dirs):
    """Yield ``(path, line number, tag)`` for every tag cited under ``dirs``."""
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for match in CITATION.finditer(line):
                    for tag in re.split(r",\s*", match.group(1).strip().rstrip(",")):
                        if tag:
                            yield path.relative_to(ROOT), number, tag


def main(argv):
    dirs = argv or ["linmeta", "derivations", "tests"]
    known = labels()
    cited, unknown = set(), []
    for path, number, tag in citations(dirs):
        cited.add(tag)
        if tag.lower() not in known:
            unknown.append(f"{path}:{number}: unknown tag {tag!r}")
    print("\n".join(unknown) if unknown else f"{len(cited)} tags cited, all defined: {' '.join(sorted(cited))}")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
