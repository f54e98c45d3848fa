"""Does the compiled trainer learn like the eager fp32 reference? Paired seeds, t-test, verdict.

Each seed trains the CPU recipe (4x128, context 64, batch 12) twice through ``dynadrop.gpt.train``:
the reference, eager with ``attention="explicit"`` (PyTorch's own ``bernoulli_`` masks at every
site), and the fast path, ``compile=True`` with ``--attention`` (default: the fused kernel).
Within a seed both runs share the initialisation and the batches; only the dropout masks differ
(the fast path's come from a counter hash), so the two curves can only agree statistically. The
check is a paired t-test on the final and the mean validation loss; PASS when neither shows a detectable
difference (p >= 0.05) and the mean difference lies within the seed-to-seed standard deviation
of the reference.

``--compile-strategy regional`` checks the regional compile (:mod:`dynadrop.gpt.compiling`) instead.

    PYTHONPATH=src python3 benchmarks/loss_equivalence.py --data /path/to/tinyshakespeare.txt \
        [--seeds 3] [--steps 300] [--compile-strategy whole] [--attention fused]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from dynadrop.experiments.stats import compare_paired
from dynadrop.gpt.compiling import COMPILE_STRATEGIES
from dynadrop.gpt.config import TrainConfig, preset
from dynadrop.gpt.model import ATTENTION_PATHS, GPTConfig
from dynadrop.gpt.trainer import METRICS_FILE, train


def val_losses(compile_model: bool, seed: int, args: argparse.Namespace, root: Path) -> list[float]:
    """The validation losses of one run of the CPU recipe, one per evaluation."""
    config = preset("cpu", n_embd=128, train_chars=None, data=args.data, seed=seed, compile=compile_model,
                    attention=args.attention if compile_model else "explicit",
                    schedule=args.schedule, max_steps=args.steps, warmup_steps=args.steps // 10,
                    eval_interval=args.steps // 5, eval_batches=args.eval_batches,
                    checkpoint_interval=args.steps, log_interval=args.steps)
    return val_curve(config, root / f"{'compiled' if compile_model else 'eager'}-seed{seed}",
                     args.compile_strategy)


def val_curve(config: TrainConfig, run_dir: Path, compile_strategy: str = "whole") -> list[float]:
    """Train ``config`` in ``run_dir`` (compiled by ``compile_strategy``); its validation losses."""
    train(config, run_dir, progress=False, compile_strategy=compile_strategy)
    lines = (json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines())
    return [line["val_loss"] for line in lines if line["type"] == "eval"]


Curves = list[list[float]]


def equivalence_verdict(eager_curves: Curves, compiled_curves: Curves) -> tuple[bool, list[str]]:
    """PASS or not, and one line per metric: paired t-tests of compiled vs eager over the seeds."""
    passed, lines = True, []
    for metric, reduce in (("final val loss", lambda curve: curve[-1]), ("mean val loss", statistics.mean)):
        eager = [reduce(curve) for curve in eager_curves]
        compiled = [reduce(curve) for curve in compiled_curves]
        comparison = compare_paired(compiled, eager, direction=None)
        spread = statistics.stdev(eager) if len(eager) > 1 else float("nan")
        within = abs(comparison.mean_difference) <= spread
        detectable = comparison.p_value is not None and comparison.p_value < 0.05
        passed &= within and not detectable
        lines.append(f"{metric}: eager {statistics.mean(eager):.4f}, "
                     f"compiled {statistics.mean(compiled):.4f}, "
                     f"paired difference {comparison.mean_difference:+.4f} "
                     f"[{comparison.ci_low:+.4f}, {comparison.ci_high:+.4f}], p={comparison.p_value}, "
                     f"seed-to-seed sd {spread:.4f}")
    return passed, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the training text (tinyshakespeare)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-batches", type=int, default=40)
    parser.add_argument("--schedule", default="linear:0.2->0.0")
    parser.add_argument("--compile-strategy", choices=COMPILE_STRATEGIES, default="whole")
    parser.add_argument("--attention", choices=ATTENTION_PATHS, default=GPTConfig.attention,
                        help="the compiled run's attention path (the eager reference's is explicit)")
    args = parser.parse_args()
    curves: dict[bool, list[list[float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.seeds):
            for compile_model in (False, True):
                curves[compile_model].append(val_losses(compile_model, seed, args, Path(root)))
                print(f"seed {seed} {'compiled' if compile_model else 'eager   '} val loss curve "
                      + " ".join(f"{loss:.4f}" for loss in curves[compile_model][-1]), flush=True)
    passed, lines = equivalence_verdict(curves[False], curves[True])
    print("\n".join(lines))
    print("PASS" if passed else "FAIL")


if __name__ == "__main__":
    main()
