"""Time the exact dropout criterion: 20 dropped units (2^20 masks), 100 examples, float64.

Run: PYTHONPATH=src python3 benchmarks/theory_exact.py
"""

from __future__ import annotations

import time

import torch

from dynadrop.theory import dropout_criterion

CASES = {
    "10 inputs + 10 hidden dropped (where='all'), 10-10-1": ([10, 10, 1], "all"),
    "20 inputs dropped (where='inputs'), 20-5-1": ([20, 5, 1], "inputs"),
    "4 + 8 + 8 dropped (where='all'), 4-8-8-1": ([4, 8, 8, 1], "all"),
}


def best_time(widths: list[int], where: str, repeats: int = 3) -> tuple[float, float]:
    """Fastest of ``repeats`` exact evaluations, and the criterion's value."""
    generator = torch.Generator().manual_seed(0)
    weights = [
        torch.randn(n_out, n_in, generator=generator, dtype=torch.float64)
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
    ]
    X = torch.randn(100, widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(100, generator=generator, dtype=torch.float64)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = dropout_criterion(weights, X, y, 0.3, where=where, method="exact")
        times.append(time.perf_counter() - start)
    return min(times), result.value


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 100 examples, p = 0.3")
    for label, (widths, where) in CASES.items():
        seconds, value = best_time(widths, where)
        print(f"{label:55s} {seconds:6.2f} s   (J_D = {value:.6g})")


if __name__ == "__main__":
    main()
