"""Errors: one hierarchy, readable one-line messages from any error body, picklable."""

from __future__ import annotations

import json
import pickle

import httpx
import pytest

from nvnb import errors as E
from nvnb.client._boundary import error_from_response


def test_the_hierarchy_is_the_documented_one() -> None:
    assert issubclass(E.ConfigurationError, E.NVNBError)
    assert issubclass(E.InvalidInputError, E.NVNBError) and issubclass(
        E.InvalidInputError, ValueError
    )
    assert issubclass(E.ImageError, E.InvalidInputError)
    assert issubclass(E.UnknownModelError, E.NVNBError) and issubclass(
        E.UnknownModelError, ValueError
    )
    for cls in (
        E.AuthenticationError,
        E.NotFoundError,
        E.InvalidRequestError,
        E.RateLimitError,
        E.ServerError,
        E.StreamError,
    ):
        assert issubclass(cls, E.APIError)
    for cls in (E.ConnectError, E.RequestTimeout, E.StreamInterrupted):
        assert issubclass(cls, E.TransportError)
    assert set(E.__all__) >= {c.__name__ for c in _all_classes()}


def _all_classes() -> list[type[E.NVNBError]]:
    found, todo = [], [E.NVNBError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__ == "nvnb.errors"]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, E.InvalidRequestError),
        (401, E.AuthenticationError),
        (403, E.AuthenticationError),
        (404, E.NotFoundError),
        (413, E.InvalidRequestError),
        (422, E.InvalidRequestError),
        (429, E.RateLimitError),
        (409, E.InvalidRequestError),
        (500, E.ServerError),
        (502, E.ServerError),
        (503, E.ServerError),
        (504, E.ServerError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type) -> None:
    assert type(error_from_response(status, b"")) is cls


def test_an_nvcf_style_body_gives_status_title_detail_and_request_id() -> None:
    body = (
        b'{"status": 422, "title": "Unprocessable Entity", "requestId": "rq-1",'
        b' "detail": "body -> stream: extra inputs are not permitted"}'
    )
    err = error_from_response(422, body, model="microsoft/kosmos-2")
    assert (err.status, err.title, err.request_id) == (422, "Unprocessable Entity", "rq-1")
    assert err.detail == "body -> stream: extra inputs are not permitted"
    first, hint = str(err).split("\n")
    assert first == (
        "422 Unprocessable Entity: body -> stream: extra inputs are not permitted "
        "(model microsoft/kosmos-2, request id: rq-1)"
    )
    assert "payload_fn" in hint and "'stream'" in hint


def test_a_validation_list_becomes_one_line() -> None:
    body = (
        b'{"detail": [{"loc": ["body", "stream"], "msg": "Extra inputs are not permitted",'
        b' "type": "extra_forbidden"}, {"loc": ["body", "labels"], "msg": "bad"}]}'
    )
    err = error_from_response(422, body)
    assert err.detail == "body -> stream: Extra inputs are not permitted; body -> labels: bad"


def test_an_openai_style_body_gives_its_message() -> None:
    err = error_from_response(401, b'{"error": {"message": "Invalid key", "type": "auth"}}')
    assert str(err).splitlines()[0] == "401 Unauthorized: Invalid key"
    assert isinstance(err, E.AuthenticationError) and err.hint


def test_an_html_page_gives_status_and_title_not_a_dump() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title>"
        b"<style>body{}</style></head><body><h1>Oops</h1>" + b"<p>x</p>" * 500 + b"</body></html>"
    )
    err = error_from_response(503, page, headers=httpx.Headers({"content-type": "text/html"}))
    assert str(err).splitlines()[0] == "503 Service Temporarily Unavailable"


def test_plain_text_gives_its_first_line_clipped() -> None:
    err = error_from_response(502, b"\nupstream connect error\nsecond line\n")
    assert str(err).splitlines()[0] == "502 Bad Gateway: upstream connect error"
    long = error_from_response(500, b"x" * 5000)
    assert len(str(long).splitlines()[0]) < 400


def test_an_empty_body_gives_the_reason_phrase() -> None:
    assert str(error_from_response(404, b"")).splitlines()[0] == "404 Not Found"


def test_the_request_id_comes_from_the_header_first_then_the_body() -> None:
    headers = httpx.Headers({"NVCF-REQID": "from-header"})
    assert (
        error_from_response(500, b'{"requestId": "from-body"}', headers=headers).request_id
        == "from-header"
    )
    assert error_from_response(500, b'{"requestId": "from-body"}').request_id == "from-body"
    xrid = httpx.Headers({"x-request-id": "xr"})
    assert error_from_response(500, b"", headers=xrid).request_id == "xr"


def test_a_rate_limit_carries_retry_after() -> None:
    err = error_from_response(429, b"", retry_after=2.0)
    assert isinstance(err, E.RateLimitError) and err.retry_after == 2.0
    assert "2 s" in str(err)


def test_a_413_hints_at_the_assets_api() -> None:
    assert "upload_asset" in str(error_from_response(413, b'{"detail": "too large"}'))


@pytest.mark.parametrize(
    "detail",
    [
        "image input is not supported - hint: if this is unexpected, you may need to provide "
        "the mmproj",
        "Failed to parse tool call arguments as JSON: [json.exception.parse_error.101]",
    ],
)
def test_a_500_that_names_a_client_mistake_does_not_advise_retrying(detail: str) -> None:
    body = json.dumps({"error": {"code": 500, "message": detail, "type": "server_error"}})
    err = error_from_response(500, body.encode())
    assert isinstance(err, E.ServerError) and detail[:20] in str(err)
    assert "try again" not in err.hint and "cannot help" in err.hint


def test_a_plain_500_still_says_to_try_again() -> None:
    assert "try again" in error_from_response(500, b'{"detail": "boom"}').hint


def test_unknown_model_errors_suggest_close_names() -> None:
    err = E.UnknownModelError("llama-3", suggestions=["meta/llama3-8b-instruct", "b"])
    assert str(err).splitlines()[0] == (
        "unknown model 'llama-3'; did you mean: meta/llama3-8b-instruct, b?"
    )
    assert err.suggestions == ["meta/llama3-8b-instruct", "b"] and err.model == "llama-3"
    assert isinstance(err, ValueError)
    whole = E.UnknownModelError("no model by that name here")
    assert str(whole).splitlines()[0] == "no model by that name here"


@pytest.mark.parametrize("cls", _all_classes(), ids=lambda c: c.__name__)
def test_every_error_class_pickles_with_its_fields(cls: type[E.NVNBError]) -> None:
    extra = (
        {"partial_text": "so far", "chunks_received": 2}
        if cls in (E.StreamError, E.StreamInterrupted, E.RequestTimeout)
        else {}
    )
    err = cls("went wrong", status=500, request_id="rq", model="m", url="http://h/v1", **extra)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert str(back) == str(err)
    assert (back.status, back.request_id, back.model, back.url) == (500, "rq", "m", "http://h/v1")
    for name, value in extra.items():
        assert getattr(back, name) == value


def test_str_is_one_line_plus_a_hint_line() -> None:
    err = E.ConnectError("could not connect to http://127.0.0.1:9/v1/models", url="x")
    lines = str(err).splitlines()
    assert len(lines) == 2 and lines[1].startswith("Hint: ")
    assert repr(err).startswith("ConnectError(")
