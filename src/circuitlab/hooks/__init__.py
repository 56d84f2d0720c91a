"""One hook system for every circuitlab model: HookPoint, HookedModule, ActivationCache."""

from circuitlab.hooks.cache import ActivationCache, act_name
from circuitlab.hooks.hook_point import HookFn, HookPoint, LensHandle, ReadsOnly
from circuitlab.hooks.hooked_module import HookedModule

__all__ = ["ActivationCache", "HookFn", "HookPoint", "HookedModule", "LensHandle", "ReadsOnly", "act_name"]
