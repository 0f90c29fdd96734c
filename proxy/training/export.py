"""Write the trained models as ONNX files and their `manifest.json` (read by `proxy.scoring`)."""

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

from proxy.scoring import MANIFEST, MANIFEST_FORMAT
from proxy.training.fit import Calibration

log = logging.getLogger(__name__)

INPUT = "features"
CORRECTNESS_FILE = "correctness.onnx"
LENGTH_FILE = "output_length.onnx"
LIBRARIES = ("lightgbm", "scikit-learn", "onnx", "onnxmltools", "onnxruntime", "numpy")
OPSET = 15


def to_onnx(model: lgb.LGBMClassifier | lgb.LGBMRegressor, n_features: int, name: str) -> onnx.ModelProto:
    proto: onnx.ModelProto = convert_lightgbm(
        model,
        name=name,
        initial_types=[(INPUT, FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=OPSET,
    )
    proto.producer_name = "switchyard scripts/train.py"
    return proto


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
    correctness: lgb.LGBMClassifier,
    calibration: Calibration,
    length: lgb.LGBMRegressor,
    names: tuple[str, ...],
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write both ONNX files and the manifest; returns the manifest as written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    c_proto = to_onnx(correctness, len(names), "switchyard_correctness")
    l_proto = to_onnx(length, len(names), "switchyard_output_length")
    digest = hashlib.sha256()
    for proto, file in ((c_proto, CORRECTNESS_FILE), (l_proto, LENGTH_FILE)):
        data = proto.SerializeToString()
        digest.update(data)
        (out_dir / file).write_bytes(data)
        log.info("wrote %s (%.1f kB)", out_dir / file, len(data) / 1000)
    digest.update(json.dumps([calibration.x.tolist(), calibration.y.tolist()]).encode())
    full = {
        "format": MANIFEST_FORMAT,
        "model_version": "switchyard-" + digest.hexdigest()[:12],
        **manifest,
        "feature_names": list(names),
    }
    full["correctness"] = {
        **manifest.get("correctness", {}),
        "file": CORRECTNESS_FILE,
        "input": INPUT,
        "output": output_name(c_proto, "probabilities"),
        "column": 1,
        "calibration": {"x": _floats(calibration.x), "y": _floats(calibration.y)},
    }
    full["output_length"] = {
        **manifest.get("output_length", {}),
        "file": LENGTH_FILE,
        "input": INPUT,
        "output": output_name(l_proto, "variable"),
    }
    full["libraries"] = library_versions()
    (out_dir / MANIFEST).write_text(json.dumps(full, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return full


def _floats(a: np.ndarray) -> list[float]:
    return [round(float(v), 7) for v in a]
