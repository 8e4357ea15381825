"""Draw the tutorials' sample images with Pillow (run once; the images are committed).

python notebooks/data/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent


def shapes() -> Image.Image:
    """A red circle and a blue square on white: small enough to send inline."""
    img = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(img)
    draw.ellipse((30, 50, 150, 170), fill=(220, 30, 30))
    draw.rectangle((180, 60, 290, 170), fill=(30, 60, 200))
    return img


def sunset() -> Image.Image:
    """A sky fading from orange to purple over a dark sea, with a yellow sun."""
    width, height = 480, 320
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        if y < height * 0.65:
            colour = (int(250 - 120 * t), int(140 - 100 * t), int(60 + 120 * t))
        else:
            colour = (10, 20, int(60 + 40 * t))
        draw.line((0, y, width, y), fill=colour)
    draw.ellipse((190, 140, 290, 240), fill=(255, 210, 60))
    draw.rectangle((0, int(height * 0.65), width, height), fill=(12, 24, 80))
    return img


def poster() -> Image.Image:
    """A 2400×1600 poster: too large to send inline as it is, so nvnb must shrink or upload it."""
    width, height = 2400, 1600
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, 4):
        t = x / width
        draw.rectangle((x, 0, x + 4, height), fill=(int(40 + 200 * t), 120, int(240 - 200 * t)))
    for i in range(12):
        cx, cy = 150 + i * 190, 400 + (i % 3) * 350
        draw.ellipse((cx - 80, cy - 80, cx + 80, cy + 80), fill=(250, 250, 250), outline="black")
        draw.line((cx - 80, cy, cx + 80, cy), fill=(i * 20, 0, 0), width=6)
    return img


def main() -> None:
    shapes().save(HERE / "shapes.png", optimize=True)
    sunset().save(HERE / "sunset.png", optimize=True)
    poster().save(HERE / "poster.jpg", quality=92)
    for path in sorted(HERE.glob("*.[pj][np]g")):
        print(path.name, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
