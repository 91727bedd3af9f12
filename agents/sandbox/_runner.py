"""The trusted runner that executes generated code inside the sandbox.

This file is copied into the sandbox work directory and run there as
``python -I -B -u _runner.py _config.json``. It uses the standard library only
and never imports the workbench.

The convention for generated code
---------------------------------
* The code sees a global ``inputs`` (the caller's ``inputs``, decoded from
  JSON; also in the file ``inputs.json`` of the working directory).
* It reports its answer either by assigning a global ``result`` or by calling
  ``emit(obj)`` (the last call wins over ``result``).
* The answer must be JSON-serialisable (numpy scalars and arrays are converted
  with ``item()``/``tolist()``; NaN and infinities are refused).

The runner writes one envelope to the (pre-created) result file::

    {"ok": bool, "value": ..., "error": str | null,
     "error_type": str | null, "traceback": str | null}

Before running the code it sets ``RLIMIT_NPROC`` and, when it starts as root
and the parent asked for it, drops to the unprivileged sandbox uid.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import resource
import sys
import traceback
from typing import Any

_FILENAME = "<generated>"
_NO_RESULT = object()


def _default(obj: Any) -> Any:
    for attr in ("tolist", "item"):
        method = getattr(obj, attr, None)
        if callable(method):
            return method()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def _write(path: str, envelope: dict[str, Any], max_bytes: int) -> None:
    try:
        text = json.dumps(envelope, default=_default, allow_nan=False)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        text = json.dumps(
            {
                "ok": False,
                "value": None,
                "error": f"the result is not JSON-serialisable: {exc}",
                "error_type": type(exc).__name__,
                "traceback": None,
            }
        )
    if len(text) > max_bytes:
        text = json.dumps(
            {
                "ok": False,
                "value": None,
                "error": f"the result is {len(text)} bytes of JSON, over the limit of {max_bytes}",
                "error_type": "OutputTooLarge",
                "traceback": None,
            }
        )
    # Written in place: under bwrap the file is a bind mount of the host's copy.
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != uid:
        raise SystemExit("sandbox runner: failed to drop privileges")


def main(config_path: str) -> None:
    """Run the generated code described by the config at *config_path*."""
    with open(config_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    workdir = os.path.dirname(os.path.abspath(config_path))
    result_path = os.path.join(workdir, cfg["result_file"])
    max_bytes = int(cfg["max_result_bytes"])
    if cfg.get("max_procs") is not None:
        n = int(cfg["max_procs"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    if cfg.get("drop_uid") is not None and os.geteuid() == 0:
        _drop_privileges(int(cfg["drop_uid"]))
    # The marker tells the parent that the sandbox itself started.
    with open(os.path.join(workdir, cfg["started_file"]), "w", encoding="utf-8") as fh:
        fh.write(str(os.getpid()))
    with open(os.path.join(workdir, cfg["code_file"]), encoding="utf-8") as fh:
        code = fh.read()
    with open(os.path.join(workdir, cfg["inputs_file"]), encoding="utf-8") as fh:
        inputs = json.load(fh)
    linecache.cache[_FILENAME] = (len(code), None, code.splitlines(True), _FILENAME)

    emitted: list[Any] = []

    def emit(obj: Any) -> None:
        """Report *obj* as the result of the generated code."""
        emitted[:] = [obj]

    namespace: dict[str, Any] = {
        "__name__": "__sandbox__",
        "__builtins__": builtins,
        "inputs": inputs,
        "emit": emit,
    }
    envelope: dict[str, Any]
    try:
        exec(compile(code, _FILENAME, "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - everything becomes data
        namespace.clear()
        emitted.clear()
        # Drop the runner's own frame: the traceback starts in the generated code.
        frames = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        tb = "".join(traceback.format_exception(type(exc), exc, frames))
        if isinstance(exc, SystemExit):
            message = f"the code called sys.exit({exc.code!r})"
        else:
            message = f"{type(exc).__name__}: {exc}"
        envelope = {
            "ok": False,
            "value": None,
            "error": message,
            "error_type": type(exc).__name__,
            "traceback": tb[-20000:],
        }
    else:
        value = emitted[0] if emitted else namespace.get("result", _NO_RESULT)
        if value is _NO_RESULT:
            envelope = {
                "ok": False,
                "value": None,
                "error": "the code neither assigned a global `result` nor called emit(obj)",
                "error_type": "NoResult",
                "traceback": None,
            }
        else:
            envelope = {"ok": True, "value": value, "error": None, "error_type": None}
            envelope["traceback"] = None
    _write(result_path, envelope, max_bytes)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
