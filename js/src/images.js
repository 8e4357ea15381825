// Images chosen, dropped or pasted in the browser, made ready to travel to Python.
//
// A widget message above ~10 MiB never reaches the kernel (Jupyter Server's websocket limit: the
// page just logs "Connection lost, reconnecting"). So a file above `send_limit` is decoded here
// and re-encoded on a canvas as a JPEG within the service's inline limit (`inline_bytes`), the
// longest side at most `max_side`; a file that cannot be decoded, or is above `refuse_bytes`, is
// refused with a message. Either way the person sees what happened.

export function sizeText(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${Math.max(1, Math.round(n / 1024))} KiB`;
}

async function decode(file) {
  if (typeof createImageBitmap === "function") {
    try {
      return await createImageBitmap(file);
    } catch (_err) {
      // fall through to <img>, which knows a few more formats
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function toBlob(canvas, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

/** Re-encode an image file as a JPEG of at most `limit` bytes: {blob, width, height, ...}. */
export async function shrinkImage(file, { limit, maxSide = 1024, maxPixels = 64e6 }) {
  const image = await decode(file);
  const width0 = image.width;
  const height0 = image.height;
  if (width0 * height0 > maxPixels) {
    throw new Error(`${width0}×${height0} pixels is more than ${Math.round(maxPixels / 1e6)} megapixels`);
  }
  let side = Math.min(maxSide, Math.max(width0, height0));
  while (side >= 32) {
    const scale = Math.min(1, side / Math.max(width0, height0));
    const width = Math.max(1, Math.round(width0 * scale));
    const height = Math.max(1, Math.round(height0 * scale));
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // JPEG has no alpha: transparent areas become white, not black
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(image, 0, 0, width, height);
    for (const quality of [0.85, 0.7, 0.5]) {
      const blob = await toBlob(canvas, quality);
      if (blob && blob.size <= limit) {
        return { blob, width, height, originalWidth: width0, originalHeight: height0 };
      }
    }
    side = Math.floor(side * 0.75);
  }
  throw new Error("it cannot be made small enough");
}

function jpegName(name) {
  return `${name.replace(/\.[A-Za-z0-9]{1,5}$/, "")}.jpg`;
}

/**
 * Send image files to Python as `{type: "add", name, mime, size, original_*}` with the bytes as
 * a binary buffer. Returns the problems (strings) for files that were refused.
 */
export async function sendImages(model, files, onProgress) {
  const sendLimit = model.get("send_limit") || 4 * 1048576;
  const refuse = model.get("refuse_bytes") || 64 * 1048576;
  const inline = model.get("inline_bytes") || 135000;
  const problems = [];
  for (const file of Array.from(files || [])) {
    const name = file.name || "pasted image";
    if (file.type && !file.type.startsWith("image/")) {
      problems.push(`${name} is not an image (${file.type})`);
      continue;
    }
    if (file.size > refuse) {
      problems.push(`${name} is too large (${sizeText(file.size)}; the limit is ${sizeText(refuse)})`);
      continue;
    }
    const meta = { type: "add", name, mime: file.type || "", size: file.size };
    let blob = file;
    if (file.size > sendLimit) {
      if (onProgress) onProgress(`Shrinking ${name} (${sizeText(file.size)})…`);
      try {
        const small = await shrinkImage(file, { limit: inline });
        blob = small.blob;
        Object.assign(meta, {
          name: jpegName(name),
          mime: "image/jpeg",
          size: blob.size,
          original_width: small.originalWidth,
          original_height: small.originalHeight,
          original_nbytes: file.size,
          shrunk_in_browser: true,
        });
      } catch (err) {
        problems.push(`${name} (${sizeText(file.size)}) could not be read as an image: ${err.message || err}`);
        continue;
      }
    }
    model.send(meta, undefined, [await blob.arrayBuffer()]);
  }
  if (onProgress) onProgress("");
  return problems;
}

/** Image files in a paste or drop (DataTransfer), if any. */
export function imageFiles(transfer) {
  if (!transfer) return [];
  return Array.from(transfer.files || []).filter((f) => !f.type || f.type.startsWith("image/"));
}
