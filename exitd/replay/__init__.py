"""`exitd replay`: the exit engine over a price file, tick-synchronous."""

from exitd.replay.runner import ExitFill, Replay, ReplayLoopError, ReplayOutcome

__all__ = ["ExitFill", "Replay", "ReplayLoopError", "ReplayOutcome"]
