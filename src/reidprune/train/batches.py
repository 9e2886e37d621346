"""Where each training step's uint8 batch comes from, and how it reaches the device.

* CPU: the rows are gathered from the image tensor (in RAM or memory-mapped from the
  image cache) step by step.
* GPU, set fits: the whole uint8 set is copied to the device once, in chunks (so a
  memory-mapped set never has to sit in host RAM), and every batch is gathered there.
* GPU, set too large: a background thread gathers the next batches from the (memory-mapped)
  tensor into pinned host memory while the GPU computes, and the step copies them over
  without blocking.

The order of the batches is the sampler's, so the pixels a step sees do not depend on which
of the three paths serves it.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator, Sequence

import numpy as np
import torch

DEVICE_FRACTION = 0.5  # keep the set on the GPU when it needs at most this share of free memory
UPLOAD_CHUNK = 4096  # rows per host-to-device copy when uploading the whole set
PREFETCH = 3  # batches the streaming thread may run ahead


class BatchSource:
    """Serve ``(ids, images)`` per step: dataset indices (int64) and uint8 images, both on ``device``.

    Parameters
    ----------
    images:
        uint8 N x 3 x H x W: a tensor (in RAM or backed by a memory map) or any object
        indexable by an int64 tensor of rows (:class:`~reidprune.data.cache.ImageRows`).
    device:
        The training device.
    resident:
        GPU only: ``True`` keeps the whole set on the device, ``False`` streams it, ``None``
        decides from the free device memory (at most :data:`DEVICE_FRACTION` of it).
    """

    def __init__(self, images, device: torch.device, resident: bool | None = None):
        self.images, self.device = images, torch.device(device)
        self.cuda = self.device.type == "cuda"
        if isinstance(images, torch.Tensor) and images.device == self.device:
            self.resident = True
        elif not self.cuda:
            self.resident = False
        else:
            self.resident = _fits_on_device(images, self.device) if resident is None else resident
        self._on_device = None

    @property
    def mode(self) -> str:
        """"cpu", "device" (whole set on the GPU) or "stream" (pinned prefetch)."""
        return "cpu" if not self.cuda else ("device" if self.resident else "stream")

    def iterate(self, batches: Sequence[np.ndarray]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(ids, images)`` for each batch of ``batches`` (arrays of dataset indices), in order."""
        if self.mode == "cpu":
            for batch in batches:
                ids = torch.from_numpy(np.asarray(batch, dtype=np.int64))
                yield ids, self.images[ids]
        elif self.mode == "device":
            images = self._device_images()
            for batch in batches:
                ids = _pinned(torch.from_numpy(np.asarray(batch, dtype=np.int64))).to(self.device, non_blocking=True)
                yield ids, images[ids]
        else:
            for ids, images in _prefetch(self.images, batches):
                yield ids.to(self.device, non_blocking=True), images.to(self.device, non_blocking=True)

    def _device_images(self) -> torch.Tensor:
        if self._on_device is None:
            if isinstance(self.images, torch.Tensor) and self.images.device == self.device:
                self._on_device = self.images
            else:
                out = torch.empty(tuple(self.images.shape), dtype=torch.uint8, device=self.device)
                for start in range(0, len(self.images), UPLOAD_CHUNK):
                    rows = torch.arange(start, min(start + UPLOAD_CHUNK, len(self.images)))
                    out[start:start + len(rows)].copy_(_pinned(self.images[rows]), non_blocking=True)
                torch.cuda.current_stream(self.device).synchronize()  # once, before training starts
                self._on_device = out
        return self._on_device


def _fits_on_device(images, device: torch.device) -> bool:
    free, _ = torch.cuda.mem_get_info(device)
    return int(np.prod(tuple(images.shape))) <= DEVICE_FRACTION * free


def _pinned(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.pin_memory() if torch.cuda.is_available() else tensor


def _prefetch(images, batches: Sequence[np.ndarray]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Gather batches into pinned memory on a background thread, :data:`PREFETCH` ahead."""
    ready: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for batch in batches:
                ids = torch.from_numpy(np.asarray(batch, dtype=np.int64))
                item = (_pinned(ids), _pinned(images[ids]))
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(done)
        except BaseException as exc:  # hand the error to the training thread
            ready.put(exc)

    thread = threading.Thread(target=work, name="reidprune-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
