"""Read any image (path, bytes, PIL image or array) into the model's input array.

One function, `to_array`, is used for generated captchas, labeled folders and
prediction alike, so training and prediction see identically prepared pixels.
It accepts PNG, JPEG, GIF (first frame) and BMP in any mode: transparent
images are composited over white, 16-bit images are scaled to 8 bits.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from captcha_ocr.core.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP")  # what PIL calls the formats of IMAGE_EXTENSIONS
PIXEL_MAX = 255.0  # uint8 pixels are divided by this: models see [0, 1]

ImageLike = Union[str, Path, bytes, Image.Image, np.ndarray]


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly in `folder` (by extension), sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


class ImageTooLarge(UserError):
    """An image whose header declares more pixels than the caller allows (a decompression bomb, say)."""


def open_image(src: ImageLike, max_pixels: int | None = None, formats: Sequence[str] | None = None,
               name: str | None = None) -> Image.Image:
    """Open and fully decode an image.

    Args:
        src: a path, encoded bytes, a PIL image or an array.
        max_pixels: refuse, before decoding, an encoded image declaring more pixels than this.
        formats: PIL format names to accept (e.g. IMAGE_FORMATS); None accepts any that PIL reads.
        name: what error messages call the image (default: its path, or "<bytes>").

    Raises:
        ImageTooLarge: over `max_pixels`.
        UserError: the file is missing, not an image, or truncated/corrupt.
    """
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, np.ndarray):
        return _from_array(src)
    name = name or ("<bytes>" if isinstance(src, bytes) else str(src))
    try:
        img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src, formats=formats)
        if max_pixels is not None and img.width * img.height > max_pixels:
            raise ImageTooLarge(f"{name}: {img.width}x{img.height} pixels is more than the limit of {max_pixels:,}; "
                                "send a smaller image")
        img.seek(0)
        img.load()
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{name}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise UserError(f"{name}: not a readable image (PNG, JPEG, GIF or BMP expected)") from None
    except Image.DecompressionBombError as err:
        # PIL refuses the largest images inside Image.open, before the check above sees them.
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(found.group(1)):,} pixels" if found else "the image"
        limit = max_pixels if max_pixels is not None else 2 * Image.MAX_IMAGE_PIXELS
        raise ImageTooLarge(f"{name}: {size} is more than the limit of {limit:,}; send a smaller image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise UserError(f"{name}: corrupt or truncated image ({err})") from None
    return img


def _from_array(arr: np.ndarray) -> Image.Image:
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise UserError(f"image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def normalize_mode(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 'L' or 'RGB', compositing transparency over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    return img.convert("RGB")


def to_array(src: ImageLike, width: int, height: int, channels: int, resize: str = "stretch") -> np.ndarray:
    """Decode, convert and resize an image to a uint8 array of shape (height, width, channels).

    Args:
        src: a path, encoded bytes, a PIL image or an array (uint8, or float in [0, 1]).
        width, height: the model's input size.
        channels: 1 for grayscale, 3 for RGB.
        resize: "stretch" resizes to width x height (bilinear); "fit_height" scales to
            `height` keeping the aspect ratio, then pads the right with the image's
            border colour up to `width`, or squeezes it horizontally when still wider
            (see `captcha_ocr.core.choices.RESIZE_MODES`).

    Raises:
        UserError: unreadable or corrupt input.
    """
    img = normalize_mode(open_image(src))
    img = img.convert("L" if channels == 1 else "RGB")
    if resize == "fit_height":
        return _fit_height(img, width, height, channels)
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr


def _fit_height(img: Image.Image, width: int, height: int, channels: int) -> np.ndarray:
    """`to_array`'s "fit_height": keep the aspect ratio at the input height, pad or squeeze to the width."""
    fitted = max(1, min(width, round(img.width * height / img.height)))
    arr = to_array(img, fitted, height, channels)
    if fitted == width:
        return arr
    # Padding in the border's own colour (the median of the edge pixels), so the pad
    # looks like more background rather than a bar the model must learn to ignore.
    edges = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    out = np.empty((height, width, channels), np.uint8)
    out[:] = np.median(edges, axis=0).round().astype(np.uint8)
    out[:, :fitted] = arr
    return out


def scale_pixels(images):
    """uint8 pixels -> float32 in [0, 1], the scale every model sees (the one place it is done).

    Args:
        images: a NumPy array (returns one) or a TensorFlow tensor (returns one).
    """
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / np.float32(PIXEL_MAX)
    import tensorflow as tf  # only tensors get here, so TensorFlow is loaded already

    return tf.cast(images, tf.float32) / PIXEL_MAX


def as_batch(images) -> list:
    """One image or many, as a list: a path, bytes, PIL image or (H, W, C) array is one image;
    an (n, H, W, C) array or any other iterable holds several."""
    if isinstance(images, (str, Path, bytes, np.ndarray)) or hasattr(images, "mode"):
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return list(images)
        return [images]
    return list(images)
