"""Neural-network modules, PyTorch-shaped (installed as `minigrad.nn`)."""
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
