"""The simulator's root exception. Tools, file systems and parsers raise its subclasses; `CrashPoint`
(simulator.faults) is deliberately not one: like SIGKILL, it must pass every `except Exception`."""


class SimulatorError(Exception):
    pass
