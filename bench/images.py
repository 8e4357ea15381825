"""5. Images: a 24-megapixel JPEG and a 4 000×3 000 PNG, from a file on disk to a request body.

The official package takes images only as URLs or ``data:`` URIs (it refuses local paths and
sends what it is given unchanged), so its user reads the file and base64-encodes it; the timed
function is then its own ``ChatNVIDIA._prepare_inputs_and_payload`` plus the JSON encoding
``requests`` does. nvnb's user calls ``nvnb.images.from_path`` (or hands over the same data URI);
the timed function is ``ChatNVIDIA._plan`` plus the JSON encoding. Each body is then posted once
to the local server, which, like the service, refuses inline images over ~180 000 base64
characters (413). The test images are drawn with Pillow at run time, never committed.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench import clients
from bench.harness import Row, Table, fmt, interleaved
from bench.servers import local_server

if TYPE_CHECKING:
    from bench.cli import Context

VISION_MODEL = "microsoft/phi-3.5-vision-instruct"
"""A vision model on the plain chat-completions route in both packages' catalogs."""

_URI_IN_BODY = re.compile(r'"(data:image/[^;"]+;base64,[^"]+)"')


def draw(path: Path, size: tuple[int, int], fmt_name: str) -> Path:
    """A photo-like test image: gradients, shapes and sensor-like noise."""
    from PIL import Image, ImageDraw

    w, h = size
    red = Image.linear_gradient("L").resize((w, h))
    green = Image.radial_gradient("L").resize((w, h))
    blue = Image.linear_gradient("L").rotate(90).resize((w, h))
    image = Image.merge("RGB", (red, green, blue))
    pen = ImageDraw.Draw(image)
    for i in range(24):
        x, y = (i * 7919) % w, (i * 104729) % h
        pen.ellipse((x, y, x + w // 6, y + h // 6), fill=((i * 40) % 256, (i * 90) % 256, 128))
    noise = Image.merge("RGB", [Image.effect_noise((w, h), 24 + 8 * c) for c in range(3)])
    image = Image.blend(image, noise, 0.18)
    if fmt_name == "PNG":
        image.save(path, "PNG", compress_level=6)
    else:
        image.save(path, "JPEG", quality=90)
    return path


def _message(uri: str) -> Any:
    from langchain_core.messages import HumanMessage

    return HumanMessage(
        content=[
            {"type": "text", "text": "Describe this image."},
            {"type": "image_url", "image_url": {"url": uri}},
        ]
    )


def _read_as_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _sent_image(body: bytes) -> str:
    """What the body carries: the image's format and size, as the server would decode it."""
    from PIL import Image

    found = _URI_IN_BODY.search(body.decode())
    if not found:
        return "no inline image"
    data = base64.b64decode(found.group(1).split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return f"{image.format} {image.width}×{image.height}"


def run(ctx: Context) -> list[Table]:
    repeats = ctx.n(3, 1)
    jpeg, png = ((6000, 4000), (4000, 3000)) if not ctx.quick else ((1200, 800), (800, 600))
    sizes = {
        f"{jpeg[0] * jpeg[1] / 1e6:g}-megapixel JPEG": (jpeg, "JPEG", "image/jpeg"),
        f"{png[0]:,}×{png[1]:,} PNG".replace(",", " "): (png, "PNG", "image/png"),
    }
    tables: list[Table] = []
    with tempfile.TemporaryDirectory(prefix="nvnb-bench-") as tmp, local_server() as server:
        ours = clients.nvnb_chat(server.base_url, model=VISION_MODEL)
        theirs = clients.official_chat(server.base_url, model=VISION_MODEL)
        url = server.base_url + "/chat/completions"

        def nvnb_from_path(path: Path) -> bytes:
            from nvnb import images

            plan = ours._plan([_message(images.from_path(path))], None, False, {})[0]
            return json.dumps(plan.payload).encode()

        def nvnb_from_uri(path: Path, mime: str) -> bytes:
            plan = ours._plan([_message(_read_as_uri(path, mime))], None, False, {})[0]
            return json.dumps(plan.payload).encode()

        def official_from_uri(path: Path, mime: str) -> bytes:
            _, body, _ = theirs._prepare_inputs_and_payload(
                [_message(_read_as_uri(path, mime))], None, stream=False
            )
            return json.dumps(body, allow_nan=False).encode()  # what requests does with json=

        def bare(path: Path, mime: str) -> bytes:
            return json.dumps(
                clients.payload(stream=False, model=VISION_MODEL, prompt="")
                | {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "image_url",
                                    "image_url": {"url": _read_as_uri(path, mime)},
                                }
                            ],
                        }
                    ]
                }
            ).encode()

        with httpx.Client(headers=clients.AUTH, timeout=120) as poster:
            for number, (name, ((w, h), fmt_name, mime)) in enumerate(sizes.items()):
                path = draw(Path(tmp) / f"test.{fmt_name.lower()}", (w, h), fmt_name)
                table = Table(
                    f"5{'ab'[number]}",
                    f"Images: a {name} ({fmt(path.stat().st_size, 'B')} on disk), "
                    "from the file to a request body",
                    "time",
                    "s",
                    extra_columns=["body sent", "image sent", "server answer"],
                )
                contenders: dict[str, tuple[Callable[[], bytes], str]] = {
                    "read + base64 + json, no resizing (floor)": (
                        lambda p=path, m=mime: bare(p, m),
                        "floor",
                    ),
                    "nvnb images.from_path(file) + ChatNVIDIA": (
                        lambda p=path: nvnb_from_path(p),
                        "nvnb",
                    ),
                    "nvnb ChatNVIDIA, data URI given": (
                        lambda p=path, m=mime: nvnb_from_uri(p, m),
                        "nvnb",
                    ),
                    "official ChatNVIDIA, data URI given": (
                        lambda p=path, m=mime: official_from_uri(p, m),
                        "official",
                    ),
                }
                samples = interleaved(
                    {k: v[0] for k, v in contenders.items()}, repeats=repeats, warmup=0
                )
                for key, (fn, role) in contenders.items():
                    row = Row.of(key, samples[key], role)  # type: ignore[arg-type]
                    body = fn()
                    answer = poster.post(
                        url, content=body, headers={"Content-Type": "application/json"}
                    )
                    verdict = str(answer.status_code)
                    if answer.status_code >= 400 and _is_json(answer):
                        verdict += " " + str(answer.json().get("title") or "")
                    row.extras["body sent"] = fmt(len(body), "B")
                    row.extras["image sent"] = _sent_image(body)
                    row.extras["server answer"] = verdict.strip()
                    table.rows.append(row)
                table.notes.append(
                    f"{repeats} runs per row, interleaved; each body then posted once to the local "
                    "server, which (like the service) answers 413 to inline images over ~180 000 "
                    "base64 characters"
                )
                tables.append(table)
    _headline(ctx, tables)
    return tables


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def _headline(ctx: Context, tables: list[Table]) -> None:
    for table in tables:
        ours, theirs = table.find("nvnb images.from_path"), table.role("official")
        if ours and theirs and ours.value and theirs.value:
            name = table.title.split(" (")[0].removeprefix("Images: a ")
            ctx.headlines.append(
                f"{name}: nvnb sends {ours.extras['body sent']} (server: "
                f"{ours.extras['server answer']}, prepared in {fmt(ours.value, 's')}) vs official "
                f"{theirs.extras['body sent']} (server: {theirs.extras['server answer']})"
            )
