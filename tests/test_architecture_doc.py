"""docs/architecture.md stays true: every file path and every ``module.function`` it names
exists, and its module map has a line for every app and every ``fiko/`` module. Renaming,
moving or adding one of them fails here until the page says so.

What counts as a name: a file path (``conversations/events.py``, ``integrations/telegram/``,
with ``<platform>`` or ``*`` read as "any") in inline code or in the data-flow picture, the
target of a relative link, and a dotted name in inline code whose first part is one of the
project's packages (``conversations.services.message_send``: the module is imported, the rest
looked up on it)."""
import importlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from markdown_it import MarkdownIt

BASE = Path(settings.BASE_DIR)
DOC = BASE / "docs" / "architecture.md"

# Named by the page before they exist: a change being built elsewhere (the platform adapter
# registry of issue 14). Once a path here exists, take it out: from then on it is checked like
# every other one.
NOT_YET_BUILT: set[str] = set()

FILE_IN_TEXT = re.compile(r"(?<![\w/.*<>-])((?:[a-z_][a-z0-9_]*/)+[a-z_][a-z0-9_]*\.(?:py|md|json|sh))\b")
DOTTED = re.compile(r"[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def packages() -> set[str]:
    return {path.parent.name for path in BASE.glob("*/__init__.py") if path.parent.name != "tests"}


def apps() -> set[str]:
    return {path.parent.name for path in BASE.glob("*/apps.py")}


def _tokens():
    return MarkdownIt("commonmark").enable("table").parse(DOC.read_text(encoding="utf-8"))


def _inline(tokens):
    for token in tokens:
        for child in token.children or ():
            yield child


def code_spans() -> list[str]:
    return [child.content for child in _inline(_tokens()) if child.type == "code_inline"]


def link_targets() -> list[str]:
    return [child.attrs["href"] for child in _inline(_tokens())
            if child.type == "link_open" and "://" not in child.attrs["href"] and not child.attrs["href"].startswith("#")]


def path_names() -> set[str]:
    """File paths the page names: code spans that are relative paths, and files named in its
    fenced blocks (the data-flow picture)."""
    names = {span for span in code_spans()
             if "/" in span and " " not in span and not span.startswith(("/", ".")) and "|" not in span}
    for token in _tokens():
        if token.type == "fence":
            names |= set(FILE_IN_TEXT.findall(token.content))
    return names


def dotted_names() -> set[str]:
    ours = packages()
    return {span for span in code_spans() if DOTTED.fullmatch(span) and span.split(".")[0] in ours
            and not span.endswith((".py", ".md"))}


def exists(name: str) -> bool:
    pattern = re.sub(r"<[^>]+>", "*", name)
    if "*" in pattern:
        return any(BASE.glob(pattern.rstrip("/")))
    return (BASE / name).exists()


def resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_path_the_page_names_exists():
    names = path_names()
    assert len(names) > 50, sorted(names)  # the reader found the paths
    missing = sorted(name for name in names - NOT_YET_BUILT if not exists(name))
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_paths_named_before_they_are_built_are_still_to_come():
    names = path_names()
    for name in sorted(NOT_YET_BUILT):
        assert name in names, f"{name} is no longer named: take it out of NOT_YET_BUILT"
        assert not exists(name), (f"{name} exists now: take it out of NOT_YET_BUILT in "
                                  "tests/test_architecture_doc.py, and check the recipe that names it")


def test_every_relative_link_leads_to_a_file():
    targets = link_targets()
    assert targets
    missing = [target for target in targets if not (DOC.parent / target.split("#")[0]).exists()]
    assert not missing, missing


def test_every_module_function_the_page_names_exists():
    names = dotted_names()
    assert len(names) > 15, sorted(names)
    missing = sorted(name for name in names if not resolves(name))
    assert not missing, f"docs/architecture.md names what the code does not define: {missing}"


def test_the_module_map_lists_every_app_and_every_fiko_module():
    spans = set(code_spans())
    missing = sorted(f"{app}/" for app in apps() if f"{app}/" not in spans)
    missing += sorted(f"fiko/{path.name}" for path in (BASE / "fiko").glob("*.py")
                      if path.name != "__init__.py" and f"fiko/{path.name}" not in spans)
    assert not missing, f"docs/architecture.md's module map has no line for: {missing}"


@pytest.mark.parametrize("name, found", [
    ("conversations/events.py", True), ("conversations/nothing_here.py", False),
    ("integrations/<platform>/", True), ("integrations/<platform>/nothing.py", False),
])
def test_paths_are_checked(name, found):
    assert exists(name) is found


@pytest.mark.parametrize("name, found", [
    ("conversations.services.message_send", True), ("conversations.services.message_sent", False),
    ("fiko.realtime.publish_on_commit", True), ("fiko.nothing.publish", False),
    ("fiko.consumers.BaseConsumer", True),
])
def test_dotted_names_are_checked(name, found):
    assert resolves(name) is found


def test_the_readme_links_the_page():
    assert "(docs/architecture.md)" in (BASE / "README.md").read_text(encoding="utf-8")
