"""The model catalog: records as data, aliases, suggestions, registration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvnb.catalog import MODEL_TYPES, Model, find_model, known_models, resolve_model, suggest
from nvnb.catalog import records as catalog


def test_every_packaged_record_has_a_known_type_and_unique_id() -> None:
    raw = json.loads((Path(catalog.__file__).with_name("models.json")).read_text())["models"]
    ids = [r["id"] for r in raw]
    assert len(ids) == len(set(ids))
    assert {m.type for m in known_models()} <= set(MODEL_TYPES)


def test_no_alias_points_at_two_models() -> None:
    owners: dict[str, str] = {}
    for model in catalog.load_models().values():
        for alias in model.aliases:
            assert owners.setdefault(alias, model.id) == model.id, alias


@pytest.mark.parametrize(
    ("legacy", "current"),
    [
        ("mixtral_8x7b", "mistralai/mixtral-8x7b-instruct-v0.1"),
        ("nemotron_steerlm_8b", "nvidia/nemotron-steerlm-8b"),
        ("nemotron_qa_8b", "nvidia/nemotron-qa-8b"),
        ("neva_22b", "nvidia/neva-22b"),
        ("playground_neva_22b", "nvidia/neva-22b"),
        ("kosmos_2", "microsoft/kosmos-2"),
        ("playground_kosmos_2", "microsoft/kosmos-2"),
    ],
)
def test_tutorial_names_resolve_to_todays_ids(legacy: str, current: str) -> None:
    assert resolve_model(legacy).id == current


def test_the_playground_prefix_is_optional_both_ways() -> None:
    assert find_model("playground_mixtral_8x7b") == find_model("mixtral_8x7b")
    assert find_model("playground_meta/llama3-8b-instruct") is not None


def test_an_alias_is_announced_once_with_the_new_id(capsys: pytest.CaptureFixture[str]) -> None:
    from nvnb import _notices as notices

    notices.reset("alias:neva_22b")
    resolve_model("neva_22b")
    resolve_model("neva_22b")
    err = capsys.readouterr().err
    assert err.count("nvidia/neva-22b") == 1


def test_an_id_resolves_silently(capsys: pytest.CaptureFixture[str]) -> None:
    resolve_model("meta/llama3-8b-instruct")
    assert capsys.readouterr().err == ""


def test_types_and_capabilities_of_the_tutorial_models() -> None:
    assert find_model("nemotron_steerlm_8b").labels == ("creativity", "complexity", "verbosity")
    neva = find_model("neva_22b")
    assert neva.type == "nv-vlm" and "quality" in neva.labels and neva.supports_images
    assert find_model("nemotron_qa_8b").is_qa
    kosmos = find_model("kosmos_2")
    assert kosmos.accepts is not None and "stream" not in kosmos.accepts
    assert not kosmos.streaming
    assert find_model("meta/codellama-70b").type == "code"


def test_suggestions_name_close_ids() -> None:
    assert "meta/llama3-8b-instruct" in suggest("meta/llama3-8b-instuct")
    assert all("mixtral" in s for s in suggest("mixtral"))


def test_an_unknown_name_raises_with_suggestions() -> None:
    from nvnb.errors import UnknownModelError

    with pytest.raises(UnknownModelError) as info:
        resolve_model("meta/llama3-8b-instuct")
    assert "meta/llama3-8b-instruct" in info.value.suggestions
    assert "meta/llama3-8b-instruct" in str(info.value)


def test_a_live_listed_id_unknown_to_the_catalog_becomes_a_chat_model() -> None:
    model = resolve_model("acme/house-model", live=["acme/house-model"])
    assert model == Model(id="acme/house-model", type="chat")


def test_registered_models_are_found_and_listed() -> None:
    mine = Model(id="me/my-nim", type="chat", aliases=("mine",), capabilities={"tools"})
    catalog.register_model(mine)
    try:
        assert find_model("mine") is mine
        assert mine in known_models()
        assert mine.supports_tools and isinstance(mine.capabilities, frozenset)
    finally:
        catalog._registered.pop("me/my-nim")
        catalog._index.cache_clear()


def test_a_record_with_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of"):
        Model(id="x", type="diffusion")


def test_a_live_listing_given_as_a_function_is_asked_only_for_names_the_catalog_lacks() -> None:
    asked: list[str] = []

    def listing() -> list[str]:
        asked.append("listed")
        return ["acme/house-model"]

    assert resolve_model("meta/llama-3.1-8b-instruct", live=listing).id == (
        "meta/llama-3.1-8b-instruct"
    )
    assert asked == []
    assert resolve_model("acme/house-model", live=listing).type == "chat"
    assert asked == ["listed"]


def test_a_listing_merges_with_the_catalog_by_where_it_comes_from() -> None:
    from nvnb.catalog import merge_listing
    from nvnb.errors import ConnectError

    listed = [{"id": "meta/llama-3.1-8b-instruct"}, {"id": "acme/own", "root": "meta/base"}]
    hosted = merge_listing(lambda: listed, keep=lambda m: m.is_chat, self_hosted=False)
    assert Model(id="acme/own", type="chat") in hosted
    assert {m.id for m in known_models() if m.is_chat} < {m.id for m in hosted}
    nim = merge_listing(lambda: listed, keep=lambda m: m.is_chat, self_hosted=True)
    assert [m.id for m in nim] == ["meta/llama-3.1-8b-instruct", "acme/own"]
    assert nim[1].base_model == "meta/base"

    def offline() -> list[dict[str, str]]:
        raise ConnectError("no route")

    fallback = merge_listing(offline, keep=lambda m: m.is_chat, self_hosted=False)
    assert {m.id for m in fallback} == {m.id for m in known_models() if m.is_chat}
    with pytest.raises(ConnectError):
        merge_listing(offline, keep=lambda m: m.is_chat, self_hosted=True)


def test_a_listed_alias_names_its_records_id_and_an_unknown_id_itself() -> None:
    from nvnb.catalog import listed_ids

    assert listed_ids(["ai-neva-22b", "playground_nemotron_steerlm_8b", "acme/own"]) == {
        "nvidia/neva-22b",
        "nvidia/nemotron-steerlm-8b",
        "acme/own",
    }
    assert listed_ids([]) == frozenset()
