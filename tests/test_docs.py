"""The README, CONTRIBUTING.md and docs/: every Python example runs as written, each on its own (under every backend), and
every relative link leads to a file, and a heading, that exist."""

import functools
import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [
    (page, number, block)
    for page in PAGES
    for number, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S), 1)
]


def _name(page):
    return page.relative_to(ROOT).as_posix()


def test_the_readme_has_examples():
    assert sum(page.name == "README.md" for page, _, _ in EXAMPLES) >= 5


@pytest.mark.parametrize("page, number, block", EXAMPLES, ids=[f"{_name(p)}-{n}" for p, n, _ in EXAMPLES])
def test_example_runs_on_its_own(page, number, block, tmp_path, monkeypatch):
    import keras

    keras.backend.clear_session()  # on its own: not on top of the graphs the tests before it built
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(os.environ, "MPLBACKEND", "Agg")
    exec(compile(block, f"{_name(page)} example {number}", "exec"), {"__name__": "__readme__"})


@functools.cache
def _prose(page):
    """The page without its code blocks: a '# comment' there is no heading, a `](` no link."""
    return re.sub(r"```.*?```", "", page.read_text(), flags=re.S)


def _anchors(page):
    """The anchors GitHub gives a page's headings: lower case, punctuation but '-' and '_' dropped, spaces as '-'."""
    headings = re.findall(r"^#+ (.+)$", _prose(page), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def _links(page):
    return [link for link in re.findall(r"\]\(([^)\s]+)\)", _prose(page)) if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_leads_somewhere(page):
    broken = []
    for link in _links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in _anchors(target)):
            broken.append(link)
    assert not broken, f"{_name(page)}: {broken}"


def test_every_other_page_is_linked_from_the_readme():
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(ROOT / "README.md")}
    assert [_name(page) for page in PAGES[1:] if page.resolve() not in linked] == []
