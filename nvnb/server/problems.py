"""Error responses the way the hosted service sends them.

NVCF style (the default): ``{"status", "title", "detail", "requestId"}``; OpenAI style:
``{"error": {"message", "type", "code"}}``; or an HTML page / plain text, as a gateway in front
of the service sometimes answers.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.responses import Response

STYLES = ("nvcf", "openai", "html", "text")

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class Problem(Exception):
    """An HTTP error the server answers with (raised anywhere inside a request)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        problem_type: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or phrase(status)
        self.headers = dict(headers or {})
        self.problem_type = problem_type


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def render(problem: Problem, request_id: str, style: str = "nvcf") -> Response:
    """The response for ``problem`` in one of :data:`STYLES`."""
    headers = {"NVCF-REQID": request_id, **problem.headers}
    status = problem.status
    if style == "html":
        title = f"{status} {problem.title}"
        body = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return Response(body, status, headers, media_type="text/html")
    if style == "text":
        return Response(
            f"{status} {problem.title}: {problem.detail}", status, headers, media_type="text/plain"
        )
    if style == "openai":
        error_type = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "error")
        payload: dict = {
            "error": {"message": problem.detail, "type": error_type, "param": None, "code": status}
        }
    else:
        payload = {
            "status": status,
            "title": problem.title,
            "detail": problem.detail,
            "requestId": request_id,
        }
        if problem.problem_type:
            payload = {"type": problem.problem_type, **payload}
    return Response(json.dumps(payload), status, headers, media_type="application/json")
