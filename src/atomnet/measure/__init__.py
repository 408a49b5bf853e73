"""Build an AtomDB for any board: operator sweeps, single-op int8 models, measurement runners, resumable
campaigns and the kernel-additivity check (issue 6; ``README.md`` "Build an AtomDB for a new board").

>>> from atomnet.measure import list_runners
>>> list_runners()
['import', 'qemu', 'serial', 'tflm-host']
"""

from atomnet.measure._additivity import AdditivityReport, additivity
from atomnet.measure._campaign import CampaignResult, campaign_key, run_campaign
from atomnet.measure._runners import Runner, Session, flag_outliers, get_runner, list_runners, register_runner
from atomnet.measure._singleop import Variant, build_direct, get_builder, list_builders, register_builder, write_models
from atomnet.measure._sweep import SweepEntry, read_sweep, space_specs, sweep, sweep_specs, write_sweep

__all__ = [
    "AdditivityReport",
    "CampaignResult",
    "Runner",
    "Session",
    "SweepEntry",
    "Variant",
    "additivity",
    "build_direct",
    "campaign_key",
    "flag_outliers",
    "get_builder",
    "get_runner",
    "list_builders",
    "list_runners",
    "read_sweep",
    "register_builder",
    "register_runner",
    "run_campaign",
    "space_specs",
    "sweep",
    "sweep_specs",
    "write_models",
    "write_sweep",
]
