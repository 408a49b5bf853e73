"""``atomnet train SPEC --data DATA --epochs N``: train a spec (SGD + cosine, label smoothing, checkpoints,
``--resume``), one process or several under ``torchrun --nproc-per-node N -m atomnet train …``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from atomnet.cli._common import need_ml_stack, resolve_spec, set_threads
from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a spec on an image dataset (writes a run folder for atomnet export)",
        description="Train SPEC with SGD (Nesterov) + warm-up and cosine schedule, label smoothing, random crop "
                    "and flip; top-1 on the validation split after every epoch; a checkpoint per epoch in --out "
                    "(spec.json, config.json, checkpoint.pt, metrics.jsonl). SPEC is a zoo name, a spec file, or "
                    "'demo' (the 32×32 demo hybrid net). DATA is 'fashion-mnist' (Debian package "
                    "dataset-fashion-mnist) or a folder with train/ and val/, one sub-folder of images per class. "
                    "Several processes: torchrun --nproc-per-node 2 -m atomnet train … (gloo on CPU, nccl on GPU; "
                    "--batch-size is the global batch). "
                    "Example: atomnet train demo --data fashion-mnist --epochs 3 --out runs/demo")
    p.add_argument("spec", metavar="SPEC", help="zoo name, spec file, or 'demo'")
    p.add_argument("--data", required=True, help="'fashion-mnist' or an image-folder root (train/, val/)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=128, help="global batch size (default 128)")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate for the global batch (default 0.1)")
    p.add_argument("--wd", type=float, default=5e-5, help="weight decay on conv/linear weights (default 5e-5)")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="default 0.1")
    p.add_argument("--warmup", type=float, default=0.5, metavar="EPOCHS", help="linear warm-up epochs (default 0.5)")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes (default 0: in-process)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch intra-op threads per process (default: $OMP_NUM_THREADS if set, else 1 — the "
                        "small nets here train fastest on one thread per process; see docs/export.md)")
    p.add_argument("--num-classes", type=_num_classes, metavar="auto|N",
                   help="'auto': size the classifier head to the data set's classes (a searched or zoo spec has "
                        "1000; the head's Flash and latency change, so re-cost the run's spec.json); N: require "
                        "the data set to have N classes and size the head to it. Default: the spec's "
                        "num_classes must match the data set's")
    p.add_argument("--seed", type=int, default=0, help="weights, shuffling and augmentation seed (default 0)")
    p.add_argument("--limit-train", type=int, metavar="N", help="use only the first N training samples")
    p.add_argument("--limit-val", type=int, metavar="N", help="use only the first N validation samples")
    p.add_argument("--out", default=None, metavar="RUN", help="run folder (default runs/<spec name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (per-epoch lines only)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (run, data, history[], best_top1)")
    p.set_defaults(func=cmd_train)


def _num_classes(v: str) -> int | str:
    if v == "auto":
        return v
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {v!r}")
    return n


def cmd_train(args: argparse.Namespace) -> int:
    need_ml_stack("training")
    import time
    from dataclasses import asdict

    from atomnet.cli import CliError
    from atomnet.train import TrainConfig, train

    spec = resolve_spec(args.spec)
    threads = set_threads(args.threads)
    for opt, v in (("--workers", args.workers), ("--limit-train", args.limit_train), ("--limit-val", args.limit_val)):
        if v is not None and v < (0 if opt == "--workers" else 1):
            raise CliError(f"{opt}: expected a {'non-negative' if opt == '--workers' else 'positive'} integer, "
                             f"got {v}")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.wd,
                      label_smoothing=args.label_smoothing, warmup_epochs=args.warmup, seed=args.seed,
                      workers=args.workers, limit_train=args.limit_train, limit_val=args.limit_val)
    out = args.out or os.path.join("runs", spec.name)
    rank = int(os.environ.get("RANK", "0"))
    say = (lambda s: print(s, flush=True)) if rank == 0 else (lambda s: None)
    if not args.json:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        say(f"training {spec.name} on {args.data} for {cfg.epochs} epochs: batch {cfg.batch_size}"
            f"{f' over {world} processes' if world > 1 else ''}, lr {cfg.lr}, wd {cfg.weight_decay}, "
            f"label smoothing {cfg.label_smoothing}, {threads} thread(s) per process → {out}")
    t0 = time.perf_counter()
    res = train(spec, args.data, cfg, out, resume=args.resume,
                progress=not args.no_progress and not args.json and sys.stderr.isatty(),
                log=(lambda s: None) if args.json else say, num_classes=args.num_classes)
    seconds = time.perf_counter() - t0
    if rank != 0:
        return 0
    result = {"run": str(res.run), "spec": spec.name, "data": res.data.name, "num_classes": res.spec.num_classes,
              "num_classes_adapted_from": spec.num_classes if res.spec.num_classes != spec.num_classes else None,
              "epochs": cfg.epochs,
              "seconds": round(seconds, 1), "best_top1": res.best_top1,
              "final_top1": res.history[-1].val_top1 if res.history else None,
              "history": [asdict(h) for h in res.history]}
    if args.json:
        print_json(result)
    else:
        print(render_train(result))
    return 0


def render_train(r: dict[str, Any]) -> str:
    rows = [(h["epoch"], f"{h['train_loss']:.4f}", f"{h['train_top1']:.4f}", f"{h['val_loss']:.4f}",
             f"{h['val_top1']:.4f}", f"{h['lr']:.3g}", f"{h['seconds']:.1f}") for h in r["history"]]
    out = [table(["epoch", "train loss", "train top-1", "val loss", "val top-1", "lr at end", "seconds"], rows,
                 align="rrrrrrr"), ""]
    final = f"{100 * r['final_top1']:.2f} %" if r["final_top1"] is not None else "-"
    out.append(f"run {r['run']}: {r['spec']} on {r['data']}, {len(r['history'])}/{r['epochs']} epochs, "
               f"val top-1 final {final}, best {100 * r['best_top1']:.2f} %, {r['seconds']:.1f} s")
    out.append(f"next: atomnet export {r['run']} --int8 --out {r['run']}/model.tflite")
    return "\n".join(out)
