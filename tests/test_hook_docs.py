"""Every hook is documented: a docstring in hookspecs.py and a section in docs/plugins.md."""

from __future__ import annotations

import inspect
import re

import pytest
from jarvis.core import hookspecs
from jarvis.core.plugins import hook_names

from tests.fixtures.thirdparty import REPO

DOC = REPO / "docs" / "plugins.md"
SECTION = re.compile(r"^### `([a-z_]+)`\s*$", re.MULTILINE)


def test_there_are_hooks() -> None:
    assert len(hook_names()) >= 10


@pytest.mark.parametrize("hook", hook_names())
def test_every_hookspec_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc) > 20, f"hookspec {hook} needs a docstring saying what to register or do"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_section_in_the_plugin_guide(hook: str) -> None:
    sections = SECTION.findall(DOC.read_text(encoding="utf-8"))
    assert hook in sections, f"docs/plugins.md needs a '### `{hook}`' section (arguments and an example)"
    body = DOC.read_text(encoding="utf-8").split(f"### `{hook}`", 1)[1].split("\n### ", 1)[0]
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"`{hook}({params})`" in body, f"the {hook} section shows its arguments: `{hook}({params})`"
    assert "```python" in body, f"the {hook} section has an example"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    sections = SECTION.findall(DOC.read_text(encoding="utf-8"))
    assert sorted(sections) == hook_names()
