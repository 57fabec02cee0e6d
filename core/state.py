"""Saving and restoring the state of live objects (pyribs archives, emitters, schedulers) as
arrays plus JSON: never pickle.

pyribs 0.12 serialises its objects only through pickle (``ribs._utils.PickleXPMixin``), and a
pickle can run any code when it is loaded, so a run directory that a user may be handed must
not hold one. Instead :func:`object_state` walks an object's ``__dict__`` (recursively, into
the objects it holds) and writes

- numpy arrays and numpy scalars as arrays (dtype and shape kept; a scalar comes back as the
  same numpy scalar type, which matters under NumPy 2's promotion rules),
- ``None``, bools, ints, floats and texts as JSON values (floats round-trip exactly),
- lists, tuples and dicts (text or integer keys) as tagged JSON containers,
- ``numpy.random.Generator`` objects as their ``bit_generator.state`` (a JSON dict),
- objects of the packages in :data:`WALKED_PACKAGES` as their class name and fields,
- an object or array met a second time as a reference, so sharing is kept (every pyribs
  emitter holds the scheduler's archive).

Modules, classes, dtypes and functions are left out: they are fixed by the code and the
config. :func:`restore_object_state` writes the saved values onto a *freshly built object of
the same config* (the class of every walked object must match, by name, what was saved: a
name is compared, never imported). Anything else met while saving is an error, so a new kind
of field in a later pyribs is noticed at once instead of being silently dropped.

:func:`write_state` / :func:`read_state` keep a JSON tree and its arrays in one safetensors
file (the tree in the file's text metadata), written atomically.
"""

from __future__ import annotations

import functools
import json
import os
import types
from pathlib import Path
from typing import Any

import numpy as np

from .errors import QDGSError

__all__ = [
    "StateError",
    "WALKED_PACKAGES",
    "object_state",
    "restore_object_state",
    "encode",
    "decode",
    "write_state",
    "read_state",
]

WALKED_PACKAGES = ("ribs.", "core.")  # objects of these packages are walked into; others refused
_FIXED_TYPES = (  # left out: determined by the code and the config, not by the run so far
    types.ModuleType,
    type,
    np.dtype,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    functools.partial,
)


class StateError(QDGSError):
    """A saved state cannot be written or does not fit the object it is restored onto."""


def _is_fixed(value: Any) -> bool:
    if isinstance(value, _FIXED_TYPES):
        return True
    module = type(value).__module__ or ""
    return module.startswith("numba.")  # jit-compiled functions (pyribs' CMA-ES kernels)


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class _Encoder:
    def __init__(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.arrays = arrays
        self.prefix = prefix
        self.seen: dict[int, str] = {}  # id of an object, array or rng -> its path
        self.keep: list[Any] = []  # holds what was seen, so ids are not reused meanwhile

    def array(self, value: np.ndarray | np.generic, path: str) -> dict:
        arr = np.asarray(value)
        if arr.dtype.hasobject or arr.dtype.kind not in "biuf":
            raise StateError(f"cannot save {path}: an array of {arr.dtype} (only numbers and booleans are kept)")
        name = f"{self.prefix}{len(self.arrays)}"
        self.arrays[name] = np.array(arr, order="C")  # a copy (np.ascontiguousarray would make 0-d arrays 1-d)
        return {"$array": name, "scalar": True} if isinstance(value, np.generic) else {"$array": name}

    def __call__(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.generic):
            return value
        if isinstance(value, np.generic):
            return self.array(value, path)
        if id(value) in self.seen:
            return {"$same": self.seen[id(value)]}
        if isinstance(value, np.ndarray):
            self._mark(value, path)
            return self.array(value, path)
        if isinstance(value, np.random.Generator):
            self._mark(value, path)
            return {"$rng": value.bit_generator.state}
        if isinstance(value, (list, tuple)):
            tag = "$list" if isinstance(value, list) else "$tuple"
            return {tag: [self(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = []
            for key, v in value.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise StateError(f"cannot save {path}: a dict key of type {type(key).__name__}")
                items.append([key, self(v, f"{path}[{key!r}]")])
            return {"$dict": items}
        if _is_fixed(value):
            return {"$fixed": True}
        name = _class_name(value)
        if not name.startswith(WALKED_PACKAGES) or not hasattr(value, "__dict__"):
            raise StateError(f"cannot save {path}: an object of {name} (not a class of {', '.join(WALKED_PACKAGES)})")
        self._mark(value, path)
        return {"$object": name, "fields": {k: self(v, f"{path}.{k}") for k, v in vars(value).items()}}

    def _mark(self, value: Any, path: str) -> None:
        self.seen[id(value)] = path
        self.keep.append(value)


def encode(value: Any, arrays: dict[str, np.ndarray], *, prefix: str = "a", path: str = "state") -> Any:
    """The JSON tree of ``value``; its arrays are added to ``arrays`` (names ``prefix0``, ...).

    Raises:
        StateError: ``value`` holds something that is neither data nor a walked object.
    """
    return _Encoder(arrays, prefix)(value, path)


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.done: dict[str, Any] = {}  # path -> restored value, for "$same"

    def __call__(self, node: Any, fresh: Any, path: str) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) == 0:
            raise StateError(f"{path}: not a saved value ({type(node).__name__})")
        if "$array" in node:
            name = node["$array"]
            if name not in self.arrays:
                raise StateError(f"{path}: array {name!r} is missing from the file")
            arr = np.array(self.arrays[name])  # a writeable copy
            value = arr[()] if node.get("scalar") else arr
            self.done[path] = value
            return value
        if "$same" in node:
            if node["$same"] not in self.done:
                raise StateError(f"{path}: refers to {node['$same']}, which was not restored first")
            return self.done[node["$same"]]
        if "$fixed" in node:
            return fresh
        if "$rng" in node:
            if not isinstance(fresh, np.random.Generator):
                raise StateError(f"{path}: a random generator was saved, the new object has {type(fresh).__name__}")
            try:
                fresh.bit_generator.state = node["$rng"]
            except (TypeError, ValueError, KeyError) as exc:
                raise StateError(f"{path}: unusable random generator state ({exc})") from None
            self.done[path] = fresh
            return fresh
        if "$list" in node or "$tuple" in node:
            items = node.get("$list", node.get("$tuple"))
            if not isinstance(items, list):
                raise StateError(f"{path}: not a saved list")
            olds = list(fresh) if isinstance(fresh, (list, tuple)) and len(fresh) == len(items) else [None] * len(items)
            values = [self(v, old, f"{path}[{i}]") for i, (v, old) in enumerate(zip(items, olds))]
            return values if "$list" in node else tuple(values)
        if "$dict" in node:
            out = {}
            old = fresh if isinstance(fresh, dict) else {}
            for pair in node["$dict"]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                    raise StateError(f"{path}: not a saved dict")
                key, v = pair
                out[key] = self(v, old.get(key), f"{path}[{key!r}]")
            return out
        if "$object" in node:
            if fresh is None or _class_name(fresh) != node["$object"]:
                got = "nothing" if fresh is None else _class_name(fresh)
                raise StateError(f"{path}: saved as {node['$object']}, the new object has {got} (another version or config?)")
            self.done[path] = fresh
            fields = node.get("fields")
            if not isinstance(fields, dict):
                raise StateError(f"{path}: not a saved object")
            own = vars(fresh)
            for key, sub in fields.items():
                own[key] = self(sub, own.get(key), f"{path}.{key}")  # past any frozen __setattr__
            return fresh
        raise StateError(f"{path}: unknown kind of saved value {sorted(node)}")


def decode(node: Any, fresh: Any, arrays: dict[str, np.ndarray], *, path: str = "state") -> Any:
    """The value saved as ``node`` (see :func:`encode`), restored onto ``fresh`` where it is an
    object or random generator (which are updated in place and returned).

    Raises:
        StateError: the tree does not fit ``fresh``, or is not a saved state.
    """
    return _Decoder(arrays)(node, fresh, path)


def object_state(obj: Any, *, prefix: str = "a") -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON tree, arrays) of an object's state. See the module docstring."""
    arrays: dict[str, np.ndarray] = {}
    return encode(obj, arrays, prefix=prefix), arrays


def restore_object_state(obj: Any, tree: dict, arrays: dict[str, np.ndarray]) -> Any:
    """Writes a state from :func:`object_state` onto ``obj`` (freshly built, same class and config)."""
    return decode(tree, obj, arrays)


STATE_KEY = "qdgs_state"  # the safetensors metadata entry that holds the JSON tree


def write_state(path: str | os.PathLike, tree: dict, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``tree`` (JSON) and ``arrays`` into one safetensors file, atomically."""
    from safetensors.numpy import save

    from .runs import atomic_file

    data = save({k: np.array(v, order="C") for k, v in arrays.items()}, metadata={STATE_KEY: json.dumps(tree)})
    with atomic_file(path) as f:
        f.write(data)


def read_state(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Reads a file written by :func:`write_state`: only arrays and JSON, nothing is executed.

    Raises:
        StateError: the file is missing, damaged, or not a saved state.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise StateError(f"no saved search state at {path}")
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
        tree = json.loads(meta[STATE_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise StateError(f"{path} is not a readable saved search state ({type(exc).__name__}: {exc})") from None
    if not isinstance(tree, dict):
        raise StateError(f"{path} is not a saved search state")
    return tree, arrays
