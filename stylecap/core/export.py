"""Exported models: a style backend's network as an ONNX file, and onnxruntime opening one.

A backend that can be exported offers ``onnx_module()``: a plain ``nn.Module`` from tensors to tensors
with its preprocessing bound in (pictures ``[N, 3, H, W]`` in [0, 1] in and out). The module names its
example inputs (``example_inputs()``, in ``forward``'s order), its ``outputs``, and the inputs that may
be left out (``optional``: they default to their example). :func:`export_onnx` writes it with every
picture's batch, height and width dynamic and the backend's name and config in the file's metadata, so
:func:`load_onnx` knows what a file holds before anything runs.

Why the TorchScript exporter (``dynamo=False``): it traces one run, and sizes read from a tensor stay
variables where the code computes with them (``SameConv2d``, ``styling.frame``), so one trace at an
awkward size (odd, no multiple of 16: every padding branch taken) serves every size; the check in
:func:`export_onnx` runs a second size to prove it. The dynamo exporter did not finish tracing the
encoder's padding arithmetic symbolically in 4 minutes (torch 2.14).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import config as config_mod
from .atomic import atomic_path
from .component import StyleBackend
from .errors import CheckpointError, UsageError
from .host import registry

INSTALL = "pip install 'stylecap[onnx]'"
OPSET = 17
"""onnxruntime 1.13 and later run it."""
TOLERANCE = 1e-3
"""Largest difference (pixels in [0, 1]) the exported graph may show against torch at a second size."""


def requires(module: str) -> Any:
    """Import ``onnx`` or ``onnxruntime``, or say how to install them."""
    try:
        return __import__(module)
    except ImportError:
        raise UsageError(f"ONNX export and runtime=onnx need the package {module}", INSTALL) from None


def exportable() -> list[str]:
    return [e.name for e in registry("style").entries() if hasattr(e.cls, "onnx_module")]


def check_export(backend: type[StyleBackend] | StyleBackend, path: str | os.PathLike) -> Path:
    """Refuse a backend that has no ``onnx_module`` and a path that cannot take the file, before anything runs."""
    path = Path(path)
    if not hasattr(backend, "onnx_module"):
        raise UsageError(
            f"style backend {backend.name!r} cannot be exported to ONNX", f"export one of {', '.join(exportable())}"
        )
    if path.suffix != ".onnx" or path.is_dir():
        raise UsageError(f"cannot write an ONNX model to {path}", "give a file name ending in .onnx")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: {folder} is not a folder you can write to", "choose another path")
    requires("onnx")
    requires("onnxruntime")
    return path


def export_onnx(backend: StyleBackend, path: str | os.PathLike) -> Path:
    """Write ``backend``'s network to ``path`` (``.onnx``) atomically: the file is whole or absent.

    The graph is checked against torch at a size other than the traced one before it is kept."""
    path = check_export(backend, path)
    onnx = requires("onnx")
    graph = backend.onnx_module().eval()
    inputs = graph.example_inputs()
    try:
        with atomic_path(path) as tmp:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the exporter's deprecation and trace notices; _check proves the graph
                torch.onnx.export(
                    graph, tuple(inputs.values()), tmp, dynamo=False, opset_version=OPSET, input_names=list(inputs),
                    output_names=list(graph.outputs), dynamic_axes=_dynamic_axes(graph, inputs),
                )  # fmt: skip
            model = onnx.load(tmp)
            for name in graph.optional:  # an input with an initializer of its name may be left out
                model.graph.initializer.append(onnx.numpy_helper.from_array(inputs[name].numpy(), name))
            config = json.dumps(config_mod.to_dict(backend.config))
            onnx.helper.set_model_props(model, {"stylecap.backend": backend.name, "stylecap.config": config})
            onnx.save(model, tmp)
            _check(graph, tmp)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}", "choose a folder you can write to") from None
    return path


def _dynamic_axes(graph: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, dict[int, str]]:
    """Batch, height and width of every picture (4-D), the batch of everything else, by name."""
    with torch.no_grad():
        outputs = graph(*inputs.values())
    tensors = dict(inputs) | dict(zip(graph.outputs, outputs if isinstance(outputs, tuple) else (outputs,)))
    return {
        name: {0: f"{name}_batch", 2: f"{name}_height", 3: f"{name}_width"} if t.dim() == 4 else {0: f"{name}_batch"}
        for name, t in tensors.items()
    }


def _check(graph: torch.nn.Module, path: Path) -> None:
    """Run the file with onnxruntime on pictures 11 and 7 pixels taller and wider than the traced ones."""
    inputs = {
        name: F.interpolate(t, size=(t.shape[2] + 11, t.shape[3] + 7), mode="bilinear") if t.dim() == 4 else t
        for name, t in graph.example_inputs().items()
    }
    with torch.no_grad():
        expected = graph(*inputs.values())
    expected = expected if isinstance(expected, tuple) else (expected,)
    found = session(path).run(list(graph.outputs), {name: t.numpy() for name, t in inputs.items()})
    for name, want, got in zip(graph.outputs, expected, found):
        gap = (want - torch.from_numpy(got)).abs().max().item()
        if not gap <= TOLERANCE:
            raise CheckpointError(
                f"the exported graph's {name!r} differs from torch's by {gap:.2g} at another size",
                "report it: the backend's onnx_module computes with a size the trace fixed",
            )


def load_onnx(path: str | os.PathLike, backend: str) -> tuple[Any, dict[str, Any]]:
    """An onnxruntime session for a file :func:`export_onnx` wrote from ``backend``, and the backend's config
    stored in it."""
    requires("onnxruntime")
    try:
        opened = session(path)
    except Exception as e:  # onnxruntime's own error types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path} is not an ONNX model onnxruntime can run ({first})", "export it again") from None
    metadata = opened.get_modelmeta().custom_metadata_map
    found = metadata.get("stylecap.backend")
    if found != backend:
        what = f"exported from {found}" if found else "not written by stylecap export"
        raise CheckpointError(f"{path} is {what}, not {backend}", f"export one: stylecap export {backend} --out FILE")
    return opened, json.loads(metadata.get("stylecap.config", "{}"))


def session(path: str | os.PathLike) -> Any:
    """An onnxruntime session on the CPU with torch's number of threads, without notices (that inputs with
    defaults are optional is by design)."""
    ort = requires("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def refuse_run_options(backend: StyleBackend, names: tuple[str, ...]) -> None:
    """Options that act when pictures are stylised, not on the network: an export with one of them set would
    silently drop it, so it is an error."""
    defaults = {f.name: f.default for f in config_mod.fields(type(backend.config))}
    for name in names:
        if getattr(backend.config, name) != defaults[name]:
            raise UsageError(
                f"{backend.name}: option {name} applies when pictures are stylised, not to the exported model",
                f"drop -s {name}=...; give it when running the model",
            )
