"""Containers of modules: ModuleList, ModuleDict, Sequential (as torch.nn.modules.container).

Slicing a ModuleList or a Sequential returns the same container type holding
the same module objects (not copies), as in PyTorch.
"""
from minigrad.errors import MinigradError

from .module import Module


def _index(container, i):
    """A valid non-negative position for an int index into `container`."""
    n = len(container._modules)
    if not isinstance(i, int) and not hasattr(i, "__index__"):
        raise MinigradError(f"{type(container).__name__}: indices must be int or slice, "
                            f"got {type(i).__name__}")
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"{type(container).__name__}: index {i} out of range for {n} modules")
    return i % n


def _delete(container, i):
    """del container[i] (an int or a slice) for ModuleList and Sequential: the rest are
    numbered again from 0, as torch does ('0', '1', ...)."""
    items = list(container._modules.values())
    gone = set(range(len(items))[i]) if isinstance(i, slice) else {_index(container, i)}
    for name in list(container._modules):
        delattr(container, name)
    for k, m in enumerate(m for j, m in enumerate(items) if j not in gone):
        setattr(container, str(k), m)


class ModuleList(Module):
    """A list of modules, registered under their index ('layers.0', 'layers.1', ...)."""

    _see_through = True          # its items' scopes are named 'layers.0', not 'layers.layers.0'

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            setattr(self, str(i), m)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(list(self._modules.values())[i])
        return list(self._modules.values())[_index(self, i)]

    def __setitem__(self, i, module):
        setattr(self, list(self._modules)[_index(self, i)], module)

    def __delitem__(self, i):
        _delete(self, i)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other):
        return ModuleList(list(self) + list(other))


class ModuleDict(Module):
    """Modules by name (torch.nn.ModuleDict)."""

    _see_through = True

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            setattr(self, k, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        setattr(self, key, module)

    def __delitem__(self, key):
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def pop(self, key):
        """Remove the module under `key` and return it (torch.nn.ModuleDict.pop)."""
        module = self[key]
        del self[key]
        return module

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Sequential(Module):
    """Modules applied one after another; `Sequential(OrderedDict(name=module))` names them."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                setattr(self, name, m)
        else:
            for i, m in enumerate(modules):
                setattr(self, str(i), m)

    def __getitem__(self, i):
        if isinstance(i, slice):        # keeps the names, as torch does
            return type(self)(dict(list(self._modules.items())[i]))
        return list(self._modules.values())[_index(self, i)]

    def __setitem__(self, i, module):
        setattr(self, list(self._modules)[_index(self, i)], module)

    def __delitem__(self, i):
        _delete(self, i)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input


def _as_parameter(value):
    """torch's containers wrap a plain tensor into a Parameter (a Parameter is kept as is)."""
    from minigrad.tensor import Tensor
    from .module import Parameter
    if isinstance(value, Parameter) or value is None:
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise MinigradError(f"expected a Parameter or Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """A list of parameters, registered as '0', '1', ... (torch.nn.ParameterList).
    Plain tensors are wrapped into Parameters."""

    def __init__(self, values=None):
        super().__init__()
        for v in values or ():
            self.append(v)

    def append(self, value):
        setattr(self, str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ParameterList(list(self)[i])
        return self._parameters[str(_index_params(self, i))]

    def __setitem__(self, i, value):
        setattr(self, str(_index_params(self, i)), _as_parameter(value))


def _index_params(container, i):
    n = len(container)
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"ParameterList: index {i} out of range for {n} parameters")
    return i % n


class ParameterDict(Module):
    """Parameters by name (torch.nn.ParameterDict); plain tensors are wrapped into Parameters."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in items:
            self[k] = v

    def __setitem__(self, key, value):
        setattr(self, key, _as_parameter(value))

    def __getitem__(self, key):
        return self._parameters[key]

    def __delitem__(self, key):
        delattr(self, key)

    def __contains__(self, key):
        return key in self._parameters

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()
