from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stylecap.core import imageio
from stylecap.core.errors import ImageError, UsageError
from stylecap.core.imageio import (
    LoadedImage,
    find_images,
    read_image,
    resize_max,
    to_pil,
    to_tensor,
    write_image,
)


def noise(size=(48, 32), mode="RGB", seed=0):
    channels = len(Image.new(mode, (1, 1)).getbands())
    data = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), np.uint8)
    return Image.fromarray(data.squeeze(-1) if channels == 1 else data)


def save(tmp_path, name, img, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


def pixels(img):
    return np.asarray(img)


# --- modes -------------------------------------------------------------------------


def test_rgb_png_is_read_exactly_without_alpha(tmp_path):
    img = noise()
    loaded = read_image(save(tmp_path, "a.png", img))
    assert isinstance(loaded, LoadedImage)
    assert loaded.rgb.mode == "RGB"
    assert loaded.alpha is None
    assert loaded.path == tmp_path / "a.png"
    assert np.array_equal(pixels(loaded.rgb), pixels(img))


def test_grey_becomes_equal_rgb_channels(tmp_path):
    img = noise(mode="L")
    loaded = read_image(save(tmp_path, "g.png", img))
    assert loaded.rgb.mode == "RGB" and loaded.alpha is None
    for channel in range(3):
        assert np.array_equal(pixels(loaded.rgb)[..., channel], pixels(img))


def test_la_keeps_alpha_and_composites_over_background(tmp_path):
    img = Image.new("LA", (32, 32), (100, 255))
    img.paste((100, 0), (0, 0, 16, 32))
    loaded = read_image(save(tmp_path, "la.png", img), background=(0, 0, 0))
    assert loaded.alpha is not None and loaded.alpha.mode == "L"
    assert loaded.alpha.getpixel((0, 0)) == 0 and loaded.alpha.getpixel((20, 0)) == 255
    assert loaded.rgb.getpixel((0, 0)) == (0, 0, 0)
    assert loaded.rgb.getpixel((20, 0)) == (100, 100, 100)


def test_palette_without_transparency(tmp_path):
    img = Image.new("P", (32, 32), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * (254 * 3))
    loaded = read_image(save(tmp_path, "p.png", img))
    assert loaded.alpha is None
    assert loaded.rgb.getpixel((5, 5)) == (10, 200, 30)


def test_palette_with_transparency_gives_alpha(tmp_path):
    img = Image.new("P", (32, 32), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * (254 * 3))
    img.paste(0, (0, 0, 8, 8))
    path = save(tmp_path, "pt.png", img, transparency=0)
    loaded = read_image(path, background=(1, 2, 3))
    assert loaded.alpha is not None
    assert loaded.alpha.getpixel((0, 0)) == 0 and loaded.alpha.getpixel((20, 20)) == 255
    assert loaded.rgb.getpixel((0, 0)) == (1, 2, 3)
    assert loaded.rgb.getpixel((20, 20)) == (10, 200, 30)


def test_gif_with_transparency_gives_alpha(tmp_path):
    img = Image.new("P", (32, 32), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    img.paste(0, (0, 0, 8, 8))
    loaded = read_image(save(tmp_path, "t.gif", img, transparency=0))
    assert loaded.alpha is not None and loaded.alpha.getpixel((0, 0)) == 0
    assert loaded.rgb.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.rgb.getpixel((20, 20)) == (255, 0, 0)


def test_rgba_composites_over_white_and_keeps_alpha(tmp_path):
    img = Image.new("RGBA", (32, 32), (200, 0, 0, 255))
    img.paste((0, 0, 200, 0), (0, 0, 16, 32))
    img.paste((0, 0, 0, 128), (16, 0, 24, 32))
    loaded = read_image(save(tmp_path, "rgba.png", img))
    assert np.array_equal(pixels(loaded.alpha), pixels(img)[..., 3])
    assert loaded.rgb.getpixel((0, 0)) == (255, 255, 255)  # fully transparent -> background
    assert loaded.rgb.getpixel((30, 0)) == (200, 0, 0)  # opaque -> unchanged
    r, g, b = loaded.rgb.getpixel((20, 0))  # half black over white -> mid grey
    assert r == g == b and abs(r - 127) <= 1


def test_fully_opaque_rgba_has_no_alpha(tmp_path):
    img = noise(mode="RGBA")
    img.putalpha(255)
    loaded = read_image(save(tmp_path, "opaque.png", img))
    assert loaded.alpha is None
    assert np.array_equal(pixels(loaded.rgb), pixels(img)[..., :3])


def test_cmyk_cyan_becomes_rgb_cyan(tmp_path):
    img = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    loaded = read_image(save(tmp_path, "cmyk.jpg", img, quality=95))
    assert loaded.rgb.mode == "RGB"
    r, g, b = loaded.rgb.getpixel((16, 16))
    assert r <= 10 and g >= 245 and b >= 245


def test_cmyk_tiff_is_exact(tmp_path):
    img = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    loaded = read_image(save(tmp_path, "cmyk.tif", img))
    assert loaded.rgb.getpixel((0, 0)) == (0, 255, 255)


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    data = np.zeros((32, 32), np.uint16)
    data[0, 0] = 65535
    data[0, 1] = 32768
    data[0, 2] = 257
    img = Image.fromarray(data)
    assert img.mode.startswith("I;16")
    path = save(tmp_path, "deep.png", img)
    with Image.open(path) as stored:
        assert stored.mode in ("I;16", "I")  # really stored as 16-bit
    rgb = read_image(path).rgb
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((1, 0)) == (128, 128, 128)
    assert rgb.getpixel((2, 0)) == (1, 1, 1)
    assert rgb.getpixel((3, 0)) == (0, 0, 0)


def test_32_bit_int_tiff_is_scaled_as_16_bit(tmp_path):
    data = np.full((32, 32), 32768, np.int32)
    data[0, 0] = 65535
    path = save(tmp_path, "int.tif", Image.fromarray(data))
    rgb = read_image(path).rgb
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((5, 5)) == (128, 128, 128)


@pytest.mark.parametrize(
    ("top", "expected"),
    [(1.0, 255), (65535.0, 255)],
    ids=["normalised", "16-bit-range"],
)
def test_float_tiff_is_scaled(tmp_path, top, expected):
    data = np.full((32, 32), top / 2, np.float32)
    data[0, 0] = top
    path = save(tmp_path, "float.tif", Image.fromarray(data))
    rgb = read_image(path).rgb
    assert rgb.getpixel((0, 0)) == (expected,) * 3
    assert rgb.getpixel((5, 5)) == (128, 128, 128)


def test_bilevel_image(tmp_path):
    img = Image.new("1", (32, 32), 0)
    img.paste(1, (0, 0, 16, 32))
    rgb = read_image(save(tmp_path, "bw.png", img)).rgb
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((20, 0)) == (0, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (64, 32), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 8, 32))  # blue stripe on the left edge
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = save(tmp_path, "rotated.jpg", img, exif=exif, quality=95)
    rgb = read_image(path).rgb
    assert rgb.size == (32, 64)
    r, _, b = rgb.getpixel((16, 2))  # the left edge is now on top
    assert b > 200 and r < 60


# --- failures ---------------------------------------------------------------------


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="nope.png") as info:
        read_image(tmp_path / "nope.png")
    assert "check the path" in str(info.value)


def test_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg"])
def test_truncated_image_is_an_image_error(tmp_path, name):
    path = save(tmp_path, name, noise((64, 64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=name) as info:
        read_image(path)
    assert "not a readable image" in str(info.value)


def test_garbage_bytes_are_an_image_error(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageError, match="fake.png.*not a readable image"):
        read_image(path)


def test_image_over_max_pixels_is_refused_before_decoding(tmp_path, monkeypatch):
    path = save(tmp_path, "big.png", noise((64, 64)))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a refused image"))
    with pytest.raises(ImageError, match="big.png") as info:
        read_image(path, max_pixels=1000)
    message = str(info.value)
    assert "64x64" in message and "max_pixels=" in message


def test_image_at_max_pixels_is_accepted(tmp_path):
    path = save(tmp_path, "ok.png", noise((64, 64)))
    assert read_image(path, max_pixels=64 * 64).rgb.size == (64, 64)


@pytest.mark.parametrize("limit", [3000, 1000], ids=["pil-warning", "pil-error"])
def test_pil_decompression_bomb_becomes_image_error(tmp_path, monkeypatch, limit):
    path = save(tmp_path, "bomb.png", noise((64, 64)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ImageError, match="bomb.png"):
        read_image(path)


# --- writing ----------------------------------------------------------------------


def test_png_round_trips_exactly(tmp_path):
    img = noise()
    out = write_image(tmp_path / "out.png", img)
    assert out == tmp_path / "out.png"
    loaded = read_image(out)
    assert loaded.alpha is None
    assert np.array_equal(pixels(loaded.rgb), pixels(img))


@pytest.mark.parametrize("name", ["out.png", "out.webp"])
def test_alpha_is_kept_on_png_and_webp(tmp_path, name):
    alpha = Image.new("L", (48, 32), 255)
    alpha.paste(0, (0, 0, 24, 32))
    out = write_image(tmp_path / name, noise(), alpha=alpha)
    with Image.open(out) as written:
        assert written.mode == "RGBA"
        assert written.getpixel((0, 0))[3] == 0 and written.getpixel((40, 0))[3] == 255


def test_alpha_is_resized_to_the_image(tmp_path):
    alpha = Image.new("L", (24, 16), 255)
    alpha.paste(0, (0, 0, 12, 16))
    out = write_image(tmp_path / "out.png", noise((48, 32)), alpha=alpha)
    loaded = read_image(out)
    assert loaded.alpha.size == (48, 32)
    assert loaded.alpha.getpixel((2, 2)) == 0 and loaded.alpha.getpixel((45, 2)) == 255


@pytest.mark.parametrize("name", ["out.jpg", "OUT.JPEG"])
def test_jpeg_drops_alpha(tmp_path, name):
    out = write_image(tmp_path / name, noise(), alpha=Image.new("L", (48, 32), 0))
    with Image.open(out) as written:
        assert written.format == "JPEG" and written.mode == "RGB"


def test_format_follows_suffix_not_temp_name(tmp_path):
    with Image.open(write_image(tmp_path / "x.webp", noise())) as written:
        assert written.format == "WEBP"


def test_unsupported_output_suffix_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"\.png") as info:
        write_image(tmp_path / "out.bmp", noise())
    assert "out.bmp" in str(info.value)
    assert not (tmp_path / "out.bmp").exists()


def test_failed_write_leaves_existing_file_untouched(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    write_image(target, noise(seed=1))
    before = target.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError, match="keep.png"):
        write_image(target, noise(seed=2))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_failed_write_of_new_file_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(RuntimeError):
        write_image(tmp_path / "new.png", noise())
    assert list(tmp_path.iterdir()) == []


# --- tensors ----------------------------------------------------------------------


def test_to_tensor_layout_and_range():
    img = noise((48, 32))
    t = to_tensor(img)
    assert t.shape == (1, 3, 32, 48) and t.dtype == torch.float32
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert t[0, 1, 3, 5].item() == pytest.approx(img.getpixel((5, 3))[1] / 255)


def test_tensor_round_trip_is_exact():
    img = noise((64, 48))
    assert np.array_equal(pixels(to_pil(to_tensor(img))), pixels(img))
    assert np.array_equal(pixels(to_pil(to_tensor(img)[0])), pixels(img))


def test_to_pil_clamps_and_rounds():
    t = torch.tensor([-0.5, 1.7, 100.4 / 255, 100.6 / 255]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4)
    img = to_pil(t)
    assert img.mode == "RGB"
    assert [img.getpixel((x, 0))[0] for x in range(4)] == [0, 255, 100, 101]


def test_to_pil_rejects_other_shapes():
    with pytest.raises(ValueError, match="shape"):
        to_pil(torch.zeros(2, 3, 4, 4))


# --- finding and resizing ---------------------------------------------------------


def test_find_images_expands_folders_and_keeps_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ["b.PNG", "a.jpg", "c.tiff", "notes.txt", ".hidden.png"]:
        (folder / name).write_bytes(b"")
    (folder / "sub.png").mkdir()
    odd = tmp_path / "photo.raw"
    odd.write_bytes(b"")
    found = find_images([odd, str(folder)])
    assert found == [odd, folder / "a.jpg", folder / "b.PNG", folder / "c.tiff"]


def test_find_images_missing_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="ghost"):
        find_images([tmp_path / "ghost"])


def test_find_images_folder_without_images_is_a_usage_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    with pytest.raises(UsageError, match="empty"):
        find_images([folder])


def test_supported_suffixes():
    assert set(imageio.SUPPORTED_SUFFIXES) == {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
    assert set(imageio.OUTPUT_SUFFIXES) == {".png", ".jpg", ".jpeg", ".webp"}


@pytest.mark.parametrize(
    ("size", "max_size", "expected"),
    [((64, 32), 32, (32, 16)), ((30, 60), 40, (20, 40)), ((64, 32), 64, (64, 32)), ((20, 10), 64, (20, 10))],
)
def test_resize_max(size, max_size, expected):
    assert resize_max(noise(size), max_size).size == expected


def test_resize_max_none_returns_the_image():
    img = noise()
    assert resize_max(img, None) is img


def test_resize_max_rejects_nonpositive():
    with pytest.raises(UsageError):
        resize_max(noise(), 0)


def test_read_accepts_string_paths(tmp_path):
    path = save(tmp_path, "s.bmp", noise())
    assert read_image(str(path)).rgb.size == (48, 32)


def test_written_jpeg_honours_quality(tmp_path):
    img = noise((64, 64))
    low = write_image(tmp_path / "low.jpg", img, quality=10).stat().st_size
    high = write_image(tmp_path / "high.jpg", img, quality=95).stat().st_size
    assert low < high


def test_loaded_image_is_frozen(tmp_path):
    loaded = read_image(save(tmp_path, "f.png", noise()))
    with pytest.raises(AttributeError):
        loaded.path = None  # type: ignore[misc]
