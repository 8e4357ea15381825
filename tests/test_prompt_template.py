"""``{name}`` interpolation for %%nvchat prompts: only resolvable references change."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvnb._prompt_template import interpolate, resolve, resolve_argument, whole_reference


class Config:
    path = "/data/x.csv"


NAMESPACE = {
    "name": "Ada",
    "n": 3,
    "cfg": Config(),
    "d": {"key": ["zero", "one"]},
    "In": ["", "x = {'a': 1}", "print(x)"],
    "Out": {2: 42},
}


def fill(text: str) -> str:
    return interpolate(text, NAMESPACE.__getitem__)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {name}", "Hello Ada"),
        ("{n} items", "3 items"),
        ("read {cfg.path}", "read /data/x.csv"),
        ('{d["key"][1]}', "one"),
        ("{d['key'][-1]}", "one"),
        ("cell: {In[1]}", "cell: x = {'a': 1}"),
        ("out: {Out[2]}", "out: 42"),
        ("{{name}} stays", "{name} stays"),
        ("{name}{name}", "AdaAda"),
    ],
)
def test_resolvable_references_are_replaced(template: str, expected: str) -> None:
    assert fill(template) == expected


@pytest.mark.parametrize(
    "text",
    [
        "def f(): return {}",
        'payload = {"a": 1, "b": {"c": [1, 2]}}',
        'f"{missing!r:>10}"',
        "{missing}",
        "{In[99]}",
        "{Out[7]}",
        "{cfg.nothing}",
        "{ name }",
        "{{missing}}",
        'fn main() { println!("{}", x); }',
        "\\frac{a}{b}",
        "{0} and {1}",
    ],
)
def test_code_and_unknown_references_pass_untouched(text: str) -> None:
    assert fill(text) == text


def test_a_value_with_braces_is_inserted_once_and_not_reinterpreted() -> None:
    ns = {"code": "{name}", "name": "Ada"}
    assert interpolate("see {code}", ns.__getitem__) == "see {name}"


def test_a_lone_reference_in_an_option_gives_the_object_itself() -> None:
    image = b"\x89PNG..."
    lookup = {"img": image, "name": "Ada"}.__getitem__
    assert resolve_argument("{img}", lookup) is image
    assert resolve_argument("photo of {name}.png", lookup) == "photo of Ada.png"
    assert resolve_argument("{nothing}", lookup) == "{nothing}"
    assert whole_reference(" {img} ") == "img"
    assert whole_reference("{img} x") is None


def test_a_property_that_raises_leaves_the_reference_as_written() -> None:
    class Broken:
        @property
        def value(self) -> str:
            raise RuntimeError("boom")

    assert interpolate("{b.value}", {"b": Broken()}.__getitem__) == "{b.value}"
    assert resolve("b", {"b": 1}.__getitem__) == 1


# --- properties ------------------------------------------------------------------------------

CODE_ALPHABET = string.ascii_lowercase[:6] + "{}[]()\"':,.=-_ 0123456789\n$%!"
UNDEFINED_NS = {"zz_defined": "VALUE"}  # no name made of a-f letters only is defined


@settings(deadline=None)  # timing varies on a shared machine; the property does not
@given(st.text(alphabet=CODE_ALPHABET, max_size=200))
def test_any_text_without_a_resolvable_reference_is_sent_exactly_as_written(text: str) -> None:
    assert interpolate(text, UNDEFINED_NS.__getitem__) == text


LEAF_TEXT = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=8)


@settings(deadline=None)  # timing varies on a shared machine; the property does not
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | LEAF_TEXT,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(LEAF_TEXT, children, max_size=3)
            | st.sets(st.integers(), max_size=3)
        ),
        max_leaves=12,
    )
)
def test_json_and_python_literals_pass_untouched(value: object) -> None:
    import json

    texts = [repr(value)]
    if not isinstance(value, set):
        texts.append(json.dumps(value, default=list))
    for text in texts:
        assert fill(text) == text


def test_f_strings_with_unknown_names_pass_untouched() -> None:
    code = 'print(f"{total:.2f} {{literal}} {items[0]!r}")'
    assert fill(code) == code


FRAGMENT = st.text(alphabet=CODE_ALPHABET, max_size=30).filter(
    lambda s: not s.endswith("{") and not s.startswith("}")
)


@settings(deadline=None)  # timing varies on a shared machine; the property does not
@given(st.lists(FRAGMENT, min_size=1, max_size=6), st.text(max_size=20))
def test_references_between_code_fragments_are_replaced_and_the_rest_kept(
    fragments: list[str], value: str
) -> None:
    lookup = {"zz_defined": value}.__getitem__
    template = "{zz_defined}".join(fragments)
    assert interpolate(template, lookup) == value.join(fragments)


@settings(deadline=None)  # timing varies on a shared machine; the property does not
@given(st.lists(FRAGMENT, min_size=1, max_size=6))
def test_doubled_braces_keep_a_resolvable_reference_literal(fragments: list[str]) -> None:
    lookup = {"zz_defined": "VALUE"}.__getitem__
    template = "{{zz_defined}}".join(fragments)
    assert interpolate(template, lookup) == "{zz_defined}".join(fragments)
