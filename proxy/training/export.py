"""Write the trained models as ONNX files and their `manifest.json` (read by `proxy.route.scoring`)."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import onnx
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

from proxy.route.features.lexical import FILE as LEXICAL_FILE
from proxy.route.features.lexical import LexicalHeads
from proxy.route.scoring import MANIFEST, MANIFEST_FORMAT
from proxy.training.fit import Calibration
from proxy.training.trees import float32_thresholds

log = logging.getLogger(__name__)

INPUT = "features"
# Both models in one graph over one input: the proxy scores a request's candidates with one ONNX call.
MODELS_FILE = "router.onnx"
LENGTH_PREFIX = "length_"
LIBRARIES = ("lightgbm", "scikit-learn", "onnx", "onnxmltools", "onnxruntime", "numpy")
OPSET = 15


def to_onnx(model: lgb.Booster | lgb.LGBMClassifier | lgb.LGBMRegressor, n_features: int, name: str) -> onnx.ModelProto:
    """The model as an ONNX graph over float32 features that decides exactly as LightGBM does on them: each
    threshold is the largest float32 not above LightGBM's (`float32_thresholds`), not the converter's nearest."""
    booster = model if isinstance(model, lgb.Booster) else model.booster_
    proto: onnx.ModelProto = convert_lightgbm(
        float32_thresholds(booster),
        name=name,
        initial_types=[(INPUT, FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=OPSET,
    )
    # The name of the command that once wrote it: kept, because it is part of the ONNX bytes, hence of
    # model_version, and the same data must keep giving the same files.
    proto.producer_name = "switchyard scripts/train.py"
    return proto


def one_graph(correctness: onnx.ModelProto, length: onnx.ModelProto) -> onnx.ModelProto:
    """The two models side by side in one graph that reads `INPUT` once; the length model's names get
    `LENGTH_PREFIX` so nothing collides."""
    renamed = onnx.compose.add_prefix(length, LENGTH_PREFIX)
    shared = LENGTH_PREFIX + INPUT
    for node in renamed.graph.node:
        node.input[:] = [INPUT if name == shared else name for name in node.input]
    graph = onnx.GraphProto()
    graph.CopyFrom(correctness.graph)
    graph.name = "switchyard_router"
    graph.node.extend(renamed.graph.node)
    graph.initializer.extend(renamed.graph.initializer)
    graph.output.extend(renamed.graph.output)
    # Each domain at the higher of the two versions (the converter picks the lowest each graph needs);
    # the checker below and train.py's ONNX-versus-LightGBM comparison verify the result.
    versions: dict[str, int] = {}
    for o in [*correctness.opset_import, *length.opset_import]:
        versions[o.domain] = max(versions.get(o.domain, 0), o.version)
    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in sorted(versions.items())],
        ir_version=correctness.ir_version,
    )
    model.producer_name = correctness.producer_name
    onnx.checker.check_model(model)
    return model


def output_name(proto: onnx.ModelProto, wanted: str) -> str:
    names = [o.name for o in proto.graph.output]
    if wanted in names:
        return wanted
    return names[-1] if wanted == "probabilities" else names[0]


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def write_models(
    out_dir: Path,
    correctness: lgb.Booster | lgb.LGBMClassifier,
    calibration: Calibration,
    length: lgb.LGBMRegressor,
    names: tuple[str, ...],
    manifest: dict[str, Any],
    heads: LexicalHeads,
) -> dict[str, Any]:
    """Write the models (one ONNX file), the lexical heads and the manifest; returns the manifest as written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    c_proto = to_onnx(correctness, len(names), "switchyard_correctness")
    l_proto = to_onnx(length, len(names), "switchyard_output_length")
    data = one_graph(c_proto, l_proto).SerializeToString()
    digest = hashlib.sha256(data)
    (out_dir / MODELS_FILE).write_bytes(data)
    log.info("wrote %s (%.1f kB)", out_dir / MODELS_FILE, len(data) / 1000)
    digest.update(json.dumps([calibration.x.tolist(), calibration.y.tolist()]).encode())
    lexical = heads.to_bytes()
    (out_dir / LEXICAL_FILE).write_bytes(lexical)
    log.info("wrote %s (%.1f kB, %d heads)", out_dir / LEXICAL_FILE, len(lexical) / 1000, len(heads.keys))
    digest.update(lexical)
    full = {
        "format": MANIFEST_FORMAT,
        "model_version": "switchyard-" + digest.hexdigest()[:12],
        **manifest,
        "feature_names": list(names),
    }
    full["correctness"] = {
        **manifest.get("correctness", {}),
        "file": MODELS_FILE,
        "input": INPUT,
        "output": output_name(c_proto, "probabilities"),
        "column": 1,
        "calibration": {"x": _floats(calibration.x), "y": _floats(calibration.y)},
    }
    full["output_length"] = {
        **manifest.get("output_length", {}),
        "file": MODELS_FILE,
        "input": INPUT,
        "output": LENGTH_PREFIX + output_name(l_proto, "variable"),
    }
    full["lexical"] = {
        **manifest.get("lexical", {}),
        "file": LEXICAL_FILE,
        "sha256": hashlib.sha256(lexical).hexdigest(),
        "heads": list(heads.keys),
    }
    full["libraries"] = library_versions()
    (out_dir / MANIFEST).write_text(json.dumps(full, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return full


def _floats(a: np.ndarray) -> list[float]:
    return [round(float(v), 7) for v in a]
