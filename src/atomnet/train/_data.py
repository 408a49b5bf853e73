"""Training data: the built-in ``fashion-mnist`` demo set (Debian ``dataset-fashion-mnist``) and image-folder
datasets (``train/`` and ``val/`` with one folder per class: the ImageNet and VWW layout).

Samples are addressed by ``(index, seed)`` pairs: the augmentation of a sample is drawn from its own seed,
which the sampler derives from (run seed, epoch, position in the global batch). So a run gives the same
batches whatever the number of processes (:mod:`atomnet.train._loop`) and a resumed run the same as an
uninterrupted one. No dataset is ever downloaded.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from atomnet.errors import InputError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff"})
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DataError(InputError):
    """A dataset that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class DataSpec:
    """A resolved dataset: where it came from, its classes, and the input normalization the model sees
    (``(x/255 - mean) / std`` per channel) — export calibration and verification reuse it."""

    name: str
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int
    val_size: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# ---- fashion-mnist ------------------------------------------------------------------------------
def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
        magic, n = struct.unpack(">II", data[:8])
        if magic == 2049:
            arr = np.frombuffer(data, np.uint8, n, 8)
        elif magic == 2051:
            rows, cols = struct.unpack(">II", data[8:16])
            arr = np.frombuffer(data, np.uint8, n * rows * cols, 16).reshape(n, rows, cols)
        else:
            raise DataError(f"{path}: not an IDX label or image file (magic {magic})")
    except (OSError, EOFError, struct.error, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: cannot read this IDX file ({e})") from None
    return arr


def load_fashion_mnist(root: Path = FASHION_DIR) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train images N×28×28 uint8, train labels, test images, test labels)`` from the Debian package."""
    files = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise DataError(f"fashion-mnist: {root} lacks {', '.join(missing)}; install the Debian package "
                        "(sudo apt-get install dataset-fashion-mnist) — atomnet never downloads data sets")
    xtr, ytr, xte, yte = (_read_idx(root / f) for f in files)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DataError(f"fashion-mnist: image and label counts differ in {root}")
    return xtr, ytr, xte, yte


def _resize_u8(x: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """N×H×W uint8 → N×1×h×w uint8 (bilinear, in chunks)."""
    t = torch.from_numpy(np.array(x, dtype=np.uint8)).unsqueeze(1)  # a writable copy
    if tuple(t.shape[2:]) == size:
        return t.clone()
    out = []
    for chunk in t.split(4096):
        y = torch.nn.functional.interpolate(chunk.float(), size=size, mode="bilinear", align_corners=False,
                                            antialias=True)
        out.append(y.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def mix_seeds(seeds: np.ndarray) -> np.ndarray:
    """SplitMix64 of each seed: independent-looking 64-bit random words, vectorized."""
    with np.errstate(over="ignore"):
        z = seeds.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class TensorImages(Dataset):
    """In-memory uint8 images (N×C×H×W, C = 1 is repeated to ``channels``), normalized on the fly; training
    augmentation: random crop with zero padding ``pad`` and horizontal flip, drawn from each sample's seed.
    ``__getitems__`` builds a whole batch at once (the DataLoader then needs ``collate_fn=passthrough``)."""

    def __init__(self, images: torch.Tensor, labels: np.ndarray | torch.Tensor, mean: tuple[float, ...],
                 std: tuple[float, ...], channels: int = 3, train: bool = False, pad: int = 0) -> None:
        self.images, self.labels = images, torch.as_tensor(np.asarray(labels, np.int64))
        self.channels, self.train, self.pad = channels, train, pad
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> TensorImages:
        """The first ``n`` samples (same transforms)."""
        return TensorImages(self.images[:n], self.labels[:n], tuple(self.mean.ravel().tolist()),
                            tuple(self.std.ravel().tolist()), self.channels, self.train, self.pad)

    def __getitems__(self, items: Sequence[int | tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [it if isinstance(it, tuple) else (it, 0) for it in items]
        idx = torch.tensor([i for i, _ in pairs], dtype=torch.int64)
        x = self.images[idx].float().div_(255.0)
        if self.train:
            r = mix_seeds(np.array([sd for _, sd in pairs], dtype=np.uint64))
            span = np.uint64(2 * self.pad + 1)
            tops, lefts = (r % span).astype(np.int64), ((r >> np.uint64(16)) % span).astype(np.int64)
            flips = ((r >> np.uint64(32)) & np.uint64(1)).astype(bool)
            if self.pad:  # one gather: rows tops[b] + 0..h-1, columns lefts[b] + 0..w-1 of the padded image
                h, w = x.shape[2:]
                xp = torch.nn.functional.pad(x, (self.pad,) * 4)
                rows = torch.from_numpy(tops)[:, None] + torch.arange(h)
                cols = torch.from_numpy(lefts)[:, None] + torch.arange(w)
                x = xp[torch.arange(len(x))[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
            if flips.any():
                f = torch.from_numpy(flips)
                x[f] = x[f].flip(3)
        if x.shape[1] == 1 and self.channels != 1:
            x = x.expand(-1, self.channels, -1, -1)
        return ((x - self.mean) / self.std).contiguous(), self.labels[idx]

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        x, y = self.__getitems__([item])
        return x[0], int(y[0])


def stack_samples(ds: TensorImages | ImageFolder, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images N×C×H×W, labels)`` of the samples ``indices`` of ``ds`` with its own transform."""
    if isinstance(ds, TensorImages):
        return ds.__getitems__(list(indices))
    xs, ys = zip(*(ds[i] for i in indices), strict=True)
    return torch.stack(list(xs)), torch.as_tensor(ys)


def passthrough(batch: object) -> object:
    """``collate_fn`` for datasets whose ``__getitems__`` returns a ready batch."""
    return batch


# ---- image folders ---------------------------------------------------------------------------------
def _scan(split_dir: Path, classes: tuple[str, ...] | None) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing; an image-folder dataset needs train/ and val/, each with one "
                        "folder of images per class")
    found = tuple(sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if classes is None:
        classes = found
    elif set(found) - set(classes):
        raise DataError(f"{split_dir}: class folders {sorted(set(found) - set(classes))} are not in train/")
    if not classes:
        raise DataError(f"{split_dir}: no class folders (expected {split_dir}/<class>/<image>.jpg)")
    items: list[tuple[Path, int]] = []
    for k, c in enumerate(classes):
        cdir = split_dir / c
        if cdir.is_dir():
            items += [(p, k) for p in sorted(cdir.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not items:
        raise DataError(f"{split_dir}: no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))} files in "
                        f"{len(classes)} class folders)")
    return classes, items


class ImageFolder(Dataset):
    """Images decoded with Pillow. Training: random-resized crop (scale 0.25–1, aspect 3/4–4/3) and
    horizontal flip; evaluation: resize the short side to ``size/0.875`` and center-crop."""

    def __init__(self, items: list[tuple[Path, int]], size: tuple[int, int], mean: tuple[float, ...],
                 std: tuple[float, ...], train: bool) -> None:
        self.items, self.size, self.train = items, size, train
        self.mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.items)

    def head(self, n: int) -> ImageFolder:
        return ImageFolder(self.items[:n], self.size, tuple(self.mean.ravel().tolist()),
                           tuple(self.std.ravel().tolist()), self.train)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        from PIL import Image

        i, seed = item if isinstance(item, tuple) else (item, 0)
        path, label = self.items[i]
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except OSError as e:
            raise DataError(f"{path}: cannot decode this image ({e})") from None
        h, w = self.size
        if self.train:
            rng = np.random.default_rng(seed)
            W, H = img.size
            box = (0.0, 0.0, float(W), float(H))
            for _ in range(10):
                area = W * H * rng.uniform(0.25, 1.0)
                ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
                cw, ch = (area * ratio) ** 0.5, (area / ratio) ** 0.5
                if cw <= W and ch <= H:
                    x0, y0 = rng.uniform(0, W - cw), rng.uniform(0, H - ch)
                    box = (x0, y0, x0 + cw, y0 + ch)
                    break
            img = img.resize((w, h), Image.Resampling.BILINEAR, box=box)
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            W, H = img.size
            s = max(h, w) / 0.875 / min(W, H)
            rw, rh = max(w, round(W * s)), max(h, round(H * s))
            img = img.resize((rw, rh), Image.Resampling.BILINEAR)
            left, top = (rw - w) // 2, (rh - h) // 2
            img = img.crop((left, top, left + w, top + h))
        x = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
        return torch.from_numpy((x - self.mean) / self.std), label


def load_data(data: str, resolution: tuple[int, int],
              in_channels: int = 3) -> tuple[DataSpec, TensorImages | ImageFolder, TensorImages | ImageFolder]:
    """``(description, train set, val set)`` for ``data``: ``"fashion-mnist"`` or an image-folder root.

    >>> info, train, val = load_data("fashion-mnist", (32, 32))                 # doctest: +SKIP
    >>> info.num_classes, len(train), len(val), train[(0, 1)][0].shape    # doctest: +SKIP
    (10, 60000, 10000, torch.Size([3, 32, 32]))
    """
    if data == "fashion-mnist":
        xtr, ytr, xte, yte = load_fashion_mnist()
        mean, std = (0.5,) * in_channels, (0.5,) * in_channels
        pad = max(1, resolution[0] // 8)
        tr = TensorImages(_resize_u8(xtr, resolution), ytr, mean, std, in_channels, train=True, pad=pad)
        va = TensorImages(_resize_u8(xte, resolution), yte, mean, std, in_channels, train=False)
        return DataSpec("fashion-mnist", FASHION_CLASSES, mean, std, len(tr), len(va)), tr, va
    root = Path(data)
    if not root.is_dir():
        raise DataError(f"{data}: no such dataset; expected 'fashion-mnist' or a folder with train/ and val/ "
                        "image folders")
    if in_channels != 3:
        raise DataError(f"{data}: image folders give RGB images, the spec expects {in_channels} channels")
    classes, tr_items = _scan(root / "train", None)
    _, va_items = _scan(root / "val", classes)
    info = DataSpec(str(root), classes, IMAGENET_MEAN, IMAGENET_STD, len(tr_items), len(va_items))
    return (info, ImageFolder(tr_items, resolution, IMAGENET_MEAN, IMAGENET_STD, True),
            ImageFolder(va_items, resolution, IMAGENET_MEAN, IMAGENET_STD, False))
