"""Run the ``>>>`` examples of documentation pages as doctests: the outputs pasted there must match.

Usage: ``python docs/_tools/run_page_examples.py docs/tutorial.rst docs/howto/check.rst``.
Every ``.. code-block:: pycon`` block of a page is run in order in one namespace (ELLIPSIS and
NORMALIZE_WHITESPACE on); prints the failures and a summary per page; exits 1 if any failed.
"""
import doctest
import re
import sys

BLOCK = re.compile(r"\.\. code-block:: pycon\n\n((?:   .*\n|\n)+)")


def run(path):
    """Doctest the pycon blocks of ``path``; return ``doctest.TestResults``."""
    text = open(path, encoding="utf-8").read()
    source = "\n".join("\n".join(line[3:] for line in block.splitlines()) for block in BLOCK.findall(text))
    test = doctest.DocTestParser().get_doctest(source, {}, path, path, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


def main(paths):
    failed = 0
    for path in paths:
        result = run(path)
        print(f"{path}: {result.attempted - result.failed}/{result.attempted} examples pass")
        failed += result.failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
