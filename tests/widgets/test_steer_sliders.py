"""SteerSliders: enabled per model, bound to the session's labels, reset."""

from __future__ import annotations

import pytest

from nvnb.session import Session
from nvnb.widgets import SteerSliders


def test_sliders_are_enabled_only_for_labels_the_model_takes():
    session = Session()
    sliders = SteerSliders(session=session)
    assert sliders.enabled == []
    session.model = "nvidia/nemotron-steerlm-8b"
    assert sliders.enabled == ["creativity", "complexity", "verbosity"]
    session.model = "nvidia/neva-22b"
    assert sliders.enabled == ["creativity", "complexity", "verbosity", "quality"]
    assert sliders.model_name == "nvidia/neva-22b"


def test_moving_a_slider_sets_the_session_labels_and_back():
    session = Session("nvidia/nemotron-steerlm-8b")
    sliders = SteerSliders(session=session)
    sliders.set_state({"values": {"creativity": 9}})  # what the view sends
    assert session.labels == {"creativity": 9}
    session.labels = {"verbosity": 2}
    assert sliders.values == {"verbosity": 2}
    sliders.reset()
    assert session.labels == {}


def test_out_of_range_values_are_refused():
    sliders = SteerSliders(session=Session("nvidia/nemotron-steerlm-8b"))
    with pytest.raises(ValueError, match="from 0 to 9"):
        sliders.values = {"creativity": 12}


def test_the_labels_reach_the_server(nvnb_server):
    session = Session("nvidia/nemotron-steerlm-8b", base_url=nvnb_server.base_url)
    sliders = SteerSliders(session=session)
    sliders.set_state({"values": {"creativity": 9, "verbosity": 0}})
    session.ask("Tell me about GPUs")
    last = nvnb_server.requests[-1].json["messages"][-1]
    assert last == {"role": "assistant", "labels": {"creativity": 9, "verbosity": 0}}


def test_repr_and_fallback():
    sliders = SteerSliders(session=Session("nvidia/nemotron-steerlm-8b"))
    assert repr(sliders) == "SteerSliders(values={})"
    sliders.values = {"verbosity": 3, "creativity": 1}
    assert repr(sliders) == "SteerSliders(values={'creativity': 1, 'verbosity': 3})"
    assert sliders._fallback_markdown() == "**SteerLM labels:** creativity=1, verbosity=3"
