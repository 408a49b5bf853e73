"""Float vs int8 top-1 of a run's model on the same validation images (``atomnet verify --run``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Top1:
    float_top1: float
    int8_top1: float
    samples: int

    @property
    def drop_points(self) -> float:
        return 100.0 * (self.float_top1 - self.int8_top1)
