"""Data order that can resume mid-epoch and shard a global batch over processes.

Each item is fetched with RNGs seeded from (seed, epoch, index), so random augmentation is a
pure function of the item: the same whatever the worker count, the rank or a resume.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import UsageError


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with python, numpy and torch (CPU) RNGs seeded, then restore them."""
    py, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(np_state)


class SeededItems(Dataset):
    """Wraps a dataset so that ``(index, epoch)`` keys fetch items under their own seed."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        with seeded(hash((self.seed, epoch, index)) & 0x7FFF_FFFF):
            return self.dataset[index]


class EpochSampler(Sampler):
    """Yields this rank's share of each global batch of one epoch, from a given offset.

    The order is a permutation seeded by (seed, epoch); incomplete last batches are dropped so
    every step sees a full global batch.
    """

    def __init__(self, size: int, global_batch: int, seed: int, epoch: int, start_batch: int, rank: int, world: int):
        self.size, self.global_batch, self.seed, self.epoch = size, global_batch, seed, epoch
        self.start_batch, self.rank, self.world = start_batch, rank, world

    def batches_per_epoch(self) -> int:
        return self.size // self.global_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=g).tolist()
        local = self.global_batch // self.world
        for b in range(self.start_batch, self.batches_per_epoch()):
            first = b * self.global_batch + self.rank * local
            for index in order[first : first + local]:
                yield index, self.epoch

    def __len__(self) -> int:
        return (self.batches_per_epoch() - self.start_batch) * (self.global_batch // self.world)


def batches(
    dataset: Dataset,
    *,
    global_batch: int,
    seed: int,
    epoch: int,
    batch_in_epoch: int,
    rank: int,
    world: int,
    num_workers: int,
    pin_memory: bool,
) -> Iterator[tuple[int, int, Any]]:
    """Endless ``(epoch, batch_in_epoch, batch)`` from a position; the caller records the position."""
    if global_batch % world:
        raise UsageError(f"batch_size {global_batch} does not split over {world} processes", "make it a multiple")
    if len(dataset) < global_batch:
        raise UsageError(
            f"the dataset has {len(dataset)} items, fewer than batch_size {global_batch}",
            "add data or lower batch_size",
        )
    items = SeededItems(dataset, seed)
    per_epoch = len(dataset) // global_batch
    while True:
        if batch_in_epoch >= per_epoch:
            epoch, batch_in_epoch = epoch + 1, 0
        sampler = EpochSampler(len(dataset), global_batch, seed, epoch, batch_in_epoch, rank, world)
        # The loader gets its own generator so that making one never draws from the global RNG.
        loader = DataLoader(
            items,
            batch_size=global_batch // world,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=pin_memory,
            drop_last=True,
            generator=torch.Generator().manual_seed(epoch),
        )
        for batch in loader:
            yield epoch, batch_in_epoch, batch
            batch_in_epoch += 1
