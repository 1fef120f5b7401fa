"""Saving and loading model artifacts: ``model.joblib`` with ``metadata.json`` beside it.

The metadata holds the version, creation time, the artifact's sha256, the training-data hash,
the label set, the thresholds, metrics and the library versions. :func:`load_model` checks the
file size, the sha256 and the library versions *before* unpickling anything, so a truncated,
corrupt or tampered artifact is refused with a clear :class:`~reviewnlp.errors.ModelError`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ModelError
from .labels import CAUSES, FLAGS, SEVERITIES

logger = logging.getLogger(__name__)

ARTIFACT = "model.joblib"
METADATA = "metadata.json"
FORMAT_VERSION = 1
DEFAULT_MODEL_NAME = "default"
# Libraries whose version must match for the pickle to be trusted (major.minor).
PINNED = ("scikit-learn", "numpy", "scipy", "joblib")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (*PINNED, "jieba", "reviewnlp"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def default_model_dir() -> Path:
    """The model shipped inside the package (``reviewnlp/models/default``)."""
    env = os.environ.get("REVIEWNLP_MODEL")
    if env:
        return Path(env)
    return Path(str(resources.files("reviewnlp") / "models" / DEFAULT_MODEL_NAME))


def save_model(model, out_dir: str | Path, *, version: str, training_data_hash: str,
               metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``model.joblib`` + ``metadata.json`` atomically into ``out_dir``; returns the metadata."""
    import joblib

    from .lean import LeanScorer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=out, prefix=".model.", suffix=".tmp", delete=False)
    tmp.close()
    try:
        joblib.dump({"format": FORMAT_VERSION, "pipeline": model.pipeline, "thresholds": model.thresholds},
                    tmp.name, compress=("zlib", 6))
        digest = sha256_file(tmp.name)
        size = os.path.getsize(tmp.name)
        meta = {
            "name": out.name,
            "version": version,
            "format": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "artifact": ARTIFACT,
            "sha256": digest,
            "size_bytes": size,
            "training_data_sha256": training_data_hash,
            "labels": {"causes": list(CAUSES), "severity": list(SEVERITIES), "flags": list(FLAGS)},
            "thresholds": {k: round(float(v), 6) for k, v in model.thresholds.items()},
            "metrics": metrics or {},
            "libraries": library_versions(),
            **(extra or {}),
        }
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, out / ARTIFACT)
        lean_files = LeanScorer.from_pipeline(model.pipeline).save(out, thresholds=model.thresholds)
        meta["files"] = {name: sha256_file(out / name) for name in lean_files}
        meta["files"][ARTIFACT] = digest
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    meta_tmp = out / (METADATA + ".tmp")
    meta_tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(meta_tmp, out / METADATA)
    model.metadata = meta
    return meta


def _major_minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


def read_metadata(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / METADATA
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: metadata.json not found; is {model_dir} a reviewnlp model directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: corrupt metadata ({exc})") from None
    for key in ("sha256", "version", "libraries", "labels", "thresholds"):
        if key not in meta:
            raise ModelError(f"{path}: metadata lacks {key!r}")
    return meta


def verify(model_dir: str | Path, *, check_versions: bool = True) -> dict[str, Any]:
    """Check size, sha256 (of every file), label set and library versions without unpickling."""
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    art = model_dir / meta.get("artifact", ARTIFACT)
    if not art.is_file():
        raise ModelError(f"{art}: model artifact not found")
    size = art.stat().st_size
    if "size_bytes" in meta and size != meta["size_bytes"]:
        raise ModelError(f"{art}: size {size} bytes differs from metadata ({meta['size_bytes']}); "
                         "the file is truncated or was replaced")
    digest = sha256_file(art)
    if digest != meta["sha256"]:
        raise ModelError(f"{art}: sha256 {digest[:12]}… does not match metadata {meta['sha256'][:12]}…; "
                         "refusing to unpickle a modified artifact")
    for name, want in meta.get("files", {}).items():
        f = model_dir / name
        if not f.is_file():
            raise ModelError(f"{f}: model file not found")
        if sha256_file(f) != want:
            raise ModelError(f"{f}: sha256 does not match metadata; refusing a modified model file")
    labels = meta["labels"]
    if (labels.get("causes"), labels.get("severity"), labels.get("flags")) != (list(CAUSES), list(SEVERITIES),
                                                                             list(FLAGS)):
        raise ModelError(f"{model_dir / METADATA}: label set {labels} differs from this reviewnlp's")
    if check_versions:
        have = library_versions()
        bad = [f"{lib} {meta['libraries'].get(lib)} (installed {have.get(lib)})" for lib in PINNED
               if _major_minor(str(meta["libraries"].get(lib, ""))) != _major_minor(have.get(lib, ""))]
        if bad:
            raise ModelError(f"{model_dir}: trained with different library versions: {', '.join(bad)}; "
                             "retrain with `reviewnlp train` or pass check_versions=False at your own risk")
    return meta


def load_model(path: str | Path | None = None, *, check_versions: bool = True, max_chars: int | None = None):
    """Load and verify a model directory; ``None`` loads the shipped default model.

    The lean scorer is read from plain arrays and JSON; the pickled scikit-learn pipeline is only
    unpickled (after its sha256 is checked again) when something asks for ``model.pipeline``.

    Raises
    ------
    ModelError
        Missing files, a hash or size mismatch, other library versions, or an unreadable artifact.
    """
    from .lean import LEAN_ARRAYS, LEAN_JSON, LeanScorer
    from .model import DEFAULT_MAX_CHARS, ReviewModel

    model_dir = Path(path) if path is not None else default_model_dir()
    if model_dir.is_file():
        model_dir = model_dir.parent
    meta = verify(model_dir, check_versions=check_versions)
    art = model_dir / meta.get("artifact", ARTIFACT)
    thresholds = meta["thresholds"]

    def load_pipeline():
        import joblib

        if sha256_file(art) != meta["sha256"]:
            raise ModelError(f"{art}: sha256 changed since the model was loaded; refusing to unpickle")
        try:
            payload = joblib.load(art)
        except Exception as exc:  # a verified file that still fails is an environment problem; say so
            raise ModelError(f"{art}: cannot unpickle ({type(exc).__name__}: {exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ModelError(f"{art}: unknown artifact format")
        return payload["pipeline"]

    lean = None
    if LEAN_ARRAYS in meta.get("files", {}) and LEAN_JSON in meta.get("files", {}):
        try:
            lean = LeanScorer.load(model_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{model_dir}: cannot read the lean scorer ({type(exc).__name__}: {exc})") from None
    if lean is not None and lean.thresholds:
        thresholds = lean.thresholds  # the hashed copy; metadata.json's is for people to read
    logger.info("loaded model %s (%s) from %s", meta.get("name"), meta["version"], model_dir)
    if lean is None:  # a model saved before the lean files existed
        return ReviewModel(load_pipeline(), thresholds, meta, max_chars=max_chars or DEFAULT_MAX_CHARS)
    return ReviewModel(None, thresholds, meta, max_chars=max_chars or DEFAULT_MAX_CHARS, lean=lean,
                       pipeline_loader=load_pipeline)
