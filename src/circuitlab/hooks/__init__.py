"""One hook system for every circuitlab model: HookPoint, HookedModule, ActivationCache."""

from circuitlab.hooks.cache import ActivationCache
from circuitlab.hooks.handles import HookFn, LensHandle, ReadsOnly
from circuitlab.hooks.hook_point import HookPoint
from circuitlab.hooks.hooked_module import HookedModule
from circuitlab.hooks.names import act_name
from circuitlab.hooks.slice import Slice

__all__ = [
    "ActivationCache",
    "HookFn",
    "HookPoint",
    "HookedModule",
    "LensHandle",
    "ReadsOnly",
    "Slice",
    "act_name",
]
