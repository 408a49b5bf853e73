"""Training specs on real data: SGD + cosine, label smoothing, checkpoints, exact resume, DDP via torchrun.

The loop's pieces (loaders, optimizer, schedule, :class:`EpochLoop`) are public so that quantization-aware
fine-tuning (``atomnet export --qat-epochs``) runs the same loop; a run folder is read once as a :class:`Run`.

>>> from atomnet.nn import demo_spec
>>> from atomnet.train import TrainConfig, train
>>> result = train(demo_spec(), "fashion-mnist", TrainConfig(epochs=3), "runs/demo")   # doctest: +SKIP
"""

from atomnet.train._ckpt import RUN_SCHEMA, EpochRecord, Run, load_checkpoint, load_run
from atomnet.train._data import (
    FASHION_DIR,
    DataError,
    DataSpec,
    ImageFolder,
    TensorImages,
    load_data,
    load_fashion_mnist,
    stack_samples,
)
from atomnet.train._dist import DistBatchNorm2d, DistInfo, GlobalBatchSampler, init_distributed, sync_batchnorm
from atomnet.train._epoch import (
    EpochLoop,
    EpochStats,
    Schedule,
    lr_at,
    make_optimizer,
    param_groups,
    train_loader,
    val_loader,
)
from atomnet.train._loop import TrainConfig, TrainResult, adapt_num_classes, apply_limits, evaluate, train

__all__ = [
    "FASHION_DIR",
    "RUN_SCHEMA",
    "DataError",
    "DataSpec",
    "DistBatchNorm2d",
    "DistInfo",
    "EpochLoop",
    "EpochRecord",
    "EpochStats",
    "GlobalBatchSampler",
    "ImageFolder",
    "Run",
    "Schedule",
    "TensorImages",
    "TrainConfig",
    "TrainResult",
    "adapt_num_classes",
    "apply_limits",
    "evaluate",
    "init_distributed",
    "load_checkpoint",
    "load_data",
    "load_fashion_mnist",
    "load_run",
    "lr_at",
    "make_optimizer",
    "param_groups",
    "stack_samples",
    "sync_batchnorm",
    "train",
    "train_loader",
    "val_loader",
]
