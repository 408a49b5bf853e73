"""Training specs on real data: SGD + cosine, label smoothing, checkpoints, exact resume, DDP via torchrun.

>>> from atomnet.nn import demo_spec
>>> from atomnet.train import TrainConfig, train
>>> result = train(demo_spec(), "fashion-mnist", TrainConfig(epochs=3), "runs/demo")   # doctest: +SKIP
"""

from atomnet.train._ckpt import RUN_SCHEMA, Run, load_checkpoint, load_run
from atomnet.train._data import FASHION_DIR, DataError, DataSpec, load_data, load_fashion_mnist
from atomnet.train._dist import DistBatchNorm2d, DistInfo, GlobalBatchSampler, init_distributed, sync_batchnorm
from atomnet.train._loop import EpochRecord, TrainConfig, TrainResult, adapt_num_classes, evaluate, lr_at, train

__all__ = [
    "FASHION_DIR",
    "RUN_SCHEMA",
    "DataError",
    "DataSpec",
    "DistBatchNorm2d",
    "DistInfo",
    "EpochRecord",
    "GlobalBatchSampler",
    "Run",
    "TrainConfig",
    "TrainResult",
    "adapt_num_classes",
    "evaluate",
    "init_distributed",
    "load_checkpoint",
    "load_data",
    "load_fashion_mnist",
    "load_run",
    "lr_at",
    "sync_batchnorm",
    "train",
]
