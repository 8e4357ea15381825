"""Recording: every API request kept with its body and headers, the key never."""

from __future__ import annotations

import httpx
from server_helpers import chat_body

KEY = "nvapi-test-sentinel-key-0123456789"


def test_requests_are_recorded_with_method_path_headers_and_json(nvnb_server, http):
    http.post("/v1/chat/completions?x=1", json=chat_body("Hi"), headers={"X-Custom": "yes"})
    (recorded,) = nvnb_server.requests
    assert (recorded.method, recorded.path, recorded.query) == (
        "POST",
        "/v1/chat/completions",
        "x=1",
    )
    assert recorded.json == chat_body("Hi")
    assert recorded.headers["x-custom"] == "yes"
    assert recorded.has_auth is False


def test_the_authorization_value_is_redacted_but_its_presence_kept(nvnb_auth_server):
    httpx.get(f"{nvnb_auth_server.base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
    (recorded,) = nvnb_auth_server.requests
    assert recorded.has_auth is True
    assert recorded.headers["authorization"] == "Bearer ***"
    assert KEY not in repr(nvnb_auth_server.requests)
    listing = httpx.get(f"{nvnb_auth_server.origin}/_nvnb/requests").text
    assert KEY not in listing and "Bearer ***" in listing


def test_rejected_and_unknown_route_requests_are_recorded_too(nvnb_server, http):
    http.post("/v1/chat/completions", json={"model": "nope"})
    http.get("/v1/unknown")
    assert [r.path for r in nvnb_server.requests] == ["/v1/chat/completions", "/v1/unknown"]


def test_recordings_are_listed_and_cleared_over_http(nvnb_server, http):
    http.get("/v1/models")
    listed = http.get("/_nvnb/requests").json()["requests"]
    assert [r["path"] for r in listed] == ["/v1/models"]
    assert http.delete("/_nvnb/requests").status_code == 204
    assert nvnb_server.requests == []


def test_helper_routes_are_not_recorded(nvnb_server, http):
    http.get("/health")
    http.get("/_nvnb/samples/gradient.png")
    http.get("/_nvnb/requests")
    assert nvnb_server.requests == []


def test_each_test_starts_with_an_empty_recording(nvnb_server):
    assert nvnb_server.requests == []


def test_non_json_bodies_are_recorded_with_their_size(nvnb_server, http):
    http.post("/v1/chat/completions", content=b"plain words")
    (recorded,) = nvnb_server.requests
    assert recorded.json is None and recorded.body_size == 11
