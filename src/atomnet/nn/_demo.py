"""The built-in demo architecture: a small hybrid net (FACTS §1 hybrid pattern) for 32×32 inputs."""

from __future__ import annotations

from atomnet.spec import BlockSpec, ModelSpec, StageSpec


def demo_spec(resolution: int = 32, num_classes: int = 10) -> ModelSpec:
    """Conv stem → SEP blocks without SE (the SRAM-bound early stages; one with a channel multiplier of 3)
    → ConvNext blocks with SE and a residual (the Flash-bound late stages). 0.87 M MACs and 75.5 k parameters at 32×32.

    >>> from atomnet.spec import spec_macs
    >>> spec = demo_spec(); spec.resolution, spec_macs(spec)
    ((32, 32), 867648)
    """
    return ModelSpec(f"demo-hybrid-r{resolution}", (resolution, resolution), num_classes, (
        StageSpec((BlockSpec("conv", 16, stride=2, act="relu"),)),
        StageSpec((BlockSpec("sep", 16, stride=1, act="hswish"),)),
        StageSpec((BlockSpec("sep", 32, stride=2, expand_ratio=3, act="hswish"),)),
        StageSpec.uniform("convnext", depth=2, out_channels=48, stride=2, expand_ratio=3, se=True, act="hswish"),
        StageSpec.uniform("convnext", depth=2, out_channels=64, stride=2, expand_ratio=3, se=True, act="hswish"),
    ), provenance={"source": "atomnet.nn.demo_spec"})
