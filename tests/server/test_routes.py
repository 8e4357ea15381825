"""Every route answers in the hosted service's shapes, with NVCF-REQID on every response."""

from __future__ import annotations

import uuid

from server_helpers import CHAT_MODEL, chat_body

from nvnb.catalog import load_models
from nvnb.server import models


def test_models_lists_every_catalog_id_in_openai_shape(http):
    response = http.get("/v1/models")
    assert response.status_code == 200
    listing = response.json()
    assert listing["object"] == "list"
    ids = {m["id"] for m in listing["data"]}
    assert ids == set(load_models())
    assert all(m["object"] == "model" for m in listing["data"])


def test_every_response_carries_a_request_id(http):
    for response in (
        http.get("/v1/models"),
        http.get("/health"),
        http.post("/v1/chat/completions", json=chat_body()),
        http.post("/v1/chat/completions", json={"model": "nope"}),
    ):
        uuid.UUID(response.headers["nvcf-reqid"])


def test_error_bodies_carry_the_same_request_id_as_the_header(http):
    response = http.post("/v1/chat/completions", json=chat_body(model="no/such-model"))
    assert response.json()["requestId"] == response.headers["nvcf-reqid"]


def test_unknown_routes_answer_404_in_nvcf_style(http):
    response = http.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


def test_the_vlm_route_serves_nv_vlm_models_by_path(http):
    body = {"messages": [{"role": "user", "content": "Describe nothing."}]}
    response = http.post("/v1/vlm/nvidia/neva-22b", json=body)
    assert response.status_code == 200
    assert response.json()["model"] == "nvidia/neva-22b"


def test_the_gr_route_serves_its_model(http):
    response = http.post(
        "/v1/gr/meta/llama-3.2-11b-vision-instruct/chat/completions",
        json=chat_body(model="meta/llama-3.2-11b-vision-instruct"),
    )
    assert response.status_code == 200
    assert response.json()["model"] == "meta/llama-3.2-11b-vision-instruct"


def test_an_unknown_vlm_path_is_404(http):
    assert http.post("/v1/vlm/acme/none", json=chat_body()).status_code == 404


def test_nvcf_functions_lists_active_functions_with_old_names(http):
    functions = http.get("/v2/nvcf/functions").json()["functions"]
    names = {f["name"]: f for f in functions}
    assert "playground_mixtral_8x7b" in names
    assert all(f["status"] == "ACTIVE" for f in functions)


def test_pexec_answers_a_function_by_id(http):
    fid = models.function_id(CHAT_MODEL)
    response = http.post(
        f"/v2/nvcf/pexec/functions/{fid}", json={"messages": [{"role": "user", "content": "Hi"}]}
    )
    assert response.status_code == 200
    assert response.json()["model"] == CHAT_MODEL


def test_pexec_of_an_unknown_function_is_404(http):
    response = http.post(f"/v2/nvcf/pexec/functions/{uuid.uuid4()}", json=chat_body())
    assert response.status_code == 404
    assert "Function" in response.json()["detail"]


def test_polling_an_unknown_request_is_404(http):
    assert http.get(f"/v2/nvcf/pexec/status/{uuid.uuid4()}").status_code == 404


def test_samples_are_listed_and_served_as_images(http):
    names = http.get("/_nvnb/samples").json()["samples"]
    assert "red-circle.png" in names
    for name in names:
        response = http.get(f"/_nvnb/samples/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] in ("image/png", "image/jpeg")
    assert http.get("/_nvnb/samples/unknown.png").status_code == 404


def test_health_routes_answer_ok(http):
    for path in ("/health", "/v1/health/ready", "/v1/health/live"):
        assert http.get(path).json()["status"] == "ok"
