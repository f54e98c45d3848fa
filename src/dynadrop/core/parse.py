"""Build schedules and controllers from short spec strings usable on a command line."""

from __future__ import annotations

from dynadrop.core.controllers import Controller, ValLossAdaptive
from dynadrop.core.schedules import (
    Chain,
    Constant,
    Cosine,
    Curriculum,
    Early,
    Exponential,
    Late,
    Linear,
    Schedule,
    Step,
)
from dynadrop.core.signal_controllers import CompositeAdaptive, GapAdaptive
from dynadrop.core.timing import parse_time_point

RateRule = Schedule | Controller

_NAMED = {
    cls.name: cls
    for cls in (Constant, Linear, Exponential, Cosine, Early, Late, Curriculum, Step, ValLossAdaptive,
                GapAdaptive, CompositeAdaptive)
}
_ALIASES = {"fixed": "constant", "exp": "exponential", "cos": "cosine", "val": "adaptive"}

SPEC_HELP = """\
Schedule specs (p = drop probability; times: int = steps, float = fraction of training):
  0.2 | constant:0.2           fixed rate
  linear:0.2->0.0              straight line from start to end
  exponential:0.2->0.0,k=5     exponential approach, hits both ends (alias exp)
  cosine:0.2->0.0              half-cosine from start to end (alias cos)
  step:0.2,0.1@0.5,0.0@0.8     piecewise constant: initial, then RATE@TIME changes
  early:0.1@0.25               early dropout: linear decay to 0 at the cut-off, then 0
  late:0.1@0.5                 late dropout: 0 until the start, then the rate
  curriculum:0.2,gamma=0.001   rises as p(1 - exp(-gamma * step))
  adaptive:0.2,delta=0.05,patience=1,threshold=0.01,cooldown=0,ema=0.5,min=0.0,max=0.5
                               validation-driven: lower on improvement, raise after patience
  gap:0.2,target=0.1,kp=0.25,ki=0.1,ema=0.5,warmup=1,target_mode=abs,min=0.0,max=0.5
                               PI control of the gap val_loss - train_loss towards the target
  composite:0.2,gap=0.5,trend=1.0,grad_norm=0.05,lr=0.2,target=0.1,ema=0.5,min=0.0,max=0.5
                               initial + weighted signals (weight 0 or absent: not read)
  A for T then B               chain phases, e.g. 'linear:0.3->0.1 for 0.5 then constant:0.1'
Quote specs in a shell: '->' contains '>'."""


def parse_schedule(spec: str) -> RateRule:
    """Read a schedule or controller from its spec string (see ``SPEC_HELP``).

    ``parse_schedule(str(s))`` rebuilds ``s`` for every schedule and controller.
    """
    if not isinstance(spec, str):
        raise TypeError(f"a schedule spec must be a string, got {spec!r}")
    if " then " in spec:
        return _parse_chain(spec)
    text = spec.strip()
    name, colon, body = text.partition(":")
    if not colon:
        try:
            return Constant(float(text))
        except ValueError:
            raise _unknown(spec) from None
    name = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in _NAMED:
        raise _unknown(spec)
    try:
        return _NAMED[name].from_body(body)
    except (TypeError, ValueError) as error:
        raise ValueError(f"bad schedule spec {spec!r}: {error}") from error


def _parse_chain(spec: str) -> Chain:
    phases = []
    parts = spec.split(" then ")
    for index, part in enumerate(parts):
        head, sep, duration = part.rpartition(" for ")
        last = index == len(parts) - 1
        if not last and not sep:
            raise ValueError(f"chain phase {part.strip()!r} needs a duration: 'SPEC for TIME then ...'")
        phase = parse_schedule(part if last else head)
        if not isinstance(phase, Schedule):
            raise ValueError(
                f"chain phase {(part if last else head).strip()!r} is a controller; chain phases "
                "must be time schedules"
            )
        phases.append((phase, None if last else parse_time_point(duration, "chain duration")))
    return Chain(tuple(phases))


def _unknown(spec: str) -> ValueError:
    names = ", ".join(sorted(_NAMED))
    return ValueError(
        f"unknown schedule spec {spec!r}: expected NAME:ARGS with NAME one of {names} "
        f"(or a bare rate like 0.2)\n{SPEC_HELP}"
    )
