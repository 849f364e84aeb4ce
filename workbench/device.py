"""Which device to run on, and in which precision.

`auto` picks CUDA, then Apple's MPS, then the CPU. The precision (config field `dtype`):
`auto` is bf16 autocast on CUDA, fp32 on MPS, and on the CPU whichever a quick measurement
favours: bf16 autocast where a 1024x1024 bf16 matmul runs at least 1.5x fp32's speed (CPUs
with AVX512-BF16 or AMX), fp32 elsewhere. `fp32` forces fp32, `bf16` asks for bf16 autocast
(CUDA or CPU). Master weights and the optimizer stay fp32 either way: autocast only.

Measurements of the CPU (that bf16 matmul, and which kernel streams an inference
matrix-vector product faster) are made once and cached per CPU model, torch version and
thread count in `cpu-kernels.json` in the workbench's cache folder ($WORKBENCH_CACHE, else
$XDG_CACHE_HOME/sft-workbench, else ~/.cache/sft-workbench).

torch is imported inside the functions, so the TUI can list these choices without paying
for the import until it needs it.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import WorkbenchError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
DTYPE_CHOICES = ("auto", "fp32", "bf16")
CPU_BF16_MARGIN = 1.5
"""dtype = auto takes bf16 on a CPU whose bf16 matmul runs at least this many times fp32's."""
CACHE_NAME = "cpu-kernels.json"


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(choice: str | None = "auto") -> str:
    """"auto" | "cuda" | "cuda:N" | "mps" | "cpu" -> a torch device string.

    Raises WorkbenchError naming the device and the alternatives when it is not available.
    """
    import torch

    want = (choice or "auto").strip().lower()
    if want == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if want == "cpu":
        return "cpu"
    if want == "cuda" or want.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = ("this torch is a CPU-only build" if torch.version.cuda is None
                     else "no CUDA GPU is visible")
            raise WorkbenchError(f"device {want}: not available ({build}); "
                                 "use --device auto or --device cpu")
        if ":" in want:
            index = want.split(":", 1)[1]
            count = torch.cuda.device_count()
            if not index.isdigit() or int(index) >= count:
                raise WorkbenchError(f"device {want}: there are {count} CUDA device(s) "
                                     f"(cuda:0 to cuda:{count - 1})")
        return want
    if want == "mps":
        if not _mps_available():
            raise WorkbenchError("device mps: not available (Apple silicon with a macOS build "
                                 "of torch is needed); use --device auto or --device cpu")
        return "mps"
    raise WorkbenchError(f"unknown device {choice!r} (choose auto, cuda, cuda:N, mps or cpu)")


# -- measured CPU facts, cached ----------------------------------------------------------------

_LOCK = threading.Lock()
_MEMO: dict[str, dict] = {}  # this process's answers, so the file is read once per question


def cache_file() -> Path:
    """Where the CPU measurements are kept (the same folder as the dataset cache)."""
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "sft-workbench")
    return Path(root) / CACHE_NAME


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_key() -> str:
    """What a CPU measurement depends on: the CPU model, the torch version, the threads."""
    import torch

    return f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def cpu_measured(name: str, measure: Callable[[], dict]) -> dict:
    """`measure()` for this CPU, run once and cached in cache_file() under cpu_key() and
    `name`. A measurement that raises is cached as {"error": "..."} (a CPU that cannot do it
    will not do it next time either). The answer carries "cached": True when it was read
    back. An unreadable or unwritable cache only costs a measurement per process."""
    key = cpu_key()
    memo_key = f"{key} | {name} | {cache_file()}"
    with _LOCK:
        if memo_key in _MEMO:
            return dict(_MEMO[memo_key], cached=True)
        path = cache_file()
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(table, dict):
                table = {}
        except (OSError, ValueError):
            table = {}
        entry = table[key].get(name) if isinstance(table.get(key), dict) else None
        if isinstance(entry, dict):
            _MEMO[memo_key] = entry
            return dict(entry, cached=True)
        try:
            entry = dict(measure())
        except Exception as err:  # noqa: BLE001 - any failure means "this CPU cannot"
            entry = {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
        entry["measured_at"] = time.strftime("%Y-%m-%d")
        _MEMO[memo_key] = entry
        if not isinstance(table.get(key), dict):
            table[key] = {}
        table[key][name] = entry
        try:  # write a temp file, then rename: a reader never sees half of it
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
        return dict(entry, cached=False)


def time_interleaved(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Best seconds of each function over `reps` rounds, the functions taking turns in each
    round (a busy machine slows all of them alike), after one warm-up call each."""
    for fn in fns.values():
        fn()  # first-touch pages, kernel selection
    best = {name: float("inf") for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def probe_cpu_bf16(n: int = 1024, reps: int = 5) -> dict:
    """Time an n x n matmul in fp32 and in bf16 (best of `reps` interleaved rounds) on the
    CPU: about 0.4 s on a 2-core machine. Raises where bf16 matmuls are unsupported."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    a16, b16 = a.bfloat16(), b.bfloat16()
    with torch.inference_mode():
        t = time_interleaved({"fp32": lambda: torch.mm(a, b),
                              "bf16": lambda: torch.mm(a16, b16)}, reps)
    flops = 2 * n ** 3
    return {"n": n, "fp32_gflops": round(flops / t["fp32"] / 1e9, 1),
            "bf16_gflops": round(flops / t["bf16"] / 1e9, 1),
            "speedup": round(t["fp32"] / t["bf16"], 2)}


def cpu_bf16() -> dict:
    """The CPU's bf16 measurement (probe_cpu_bf16), cached: speedup, GFLOP/s, or error."""
    return cpu_measured("bf16_matmul", probe_cpu_bf16)


def precision(device: str, dtype: str | None = "auto") -> tuple[str, str]:
    """("bf16" | "fp32", why) for config field `dtype` on `device`, e.g. ("bf16", "auto: a
    bf16 matmul ran 2.3x fp32's speed on AMD EPYC (measured 2025-12-05)"). Raises
    WorkbenchError when the device cannot do what was asked."""
    want = (dtype or "auto").strip().lower()
    if want not in DTYPE_CHOICES:
        raise WorkbenchError(f"config field 'dtype': unknown dtype {dtype!r} (auto, fp32 or bf16)")
    kind = str(device).split(":")[0]
    if want == "fp32":
        return "fp32", "fp32: asked for (dtype = fp32)"
    if kind == "cuda":
        import torch

        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16", f"bf16 autocast: {'asked for' if want == 'bf16' else 'auto on CUDA'}"
        if want == "bf16":
            raise WorkbenchError(f"config field 'dtype': {device} has no bf16 support; "
                                 "use dtype fp32 or auto")
        return "fp32", "fp32: auto (this CUDA device has no bf16)"
    if kind == "mps":
        if want == "bf16":
            raise WorkbenchError("config field 'dtype': bf16 is not offered on mps; "
                                 "use dtype fp32 or auto")
        return "fp32", "fp32: auto on mps"
    if kind != "cpu":
        return "fp32", f"fp32: auto on {kind}"
    if want == "bf16":
        return "bf16", "bf16 autocast on the CPU: asked for (dtype = bf16)"
    m = cpu_bf16()
    when = "cached" if m.get("cached") else "measured now"
    if "error" in m:
        return "fp32", f"fp32: auto (bf16 matmuls unavailable on this CPU: {m['error']}; {when})"
    fold = f"{m['speedup']:.1f}x"
    if m["speedup"] >= CPU_BF16_MARGIN:
        return "bf16", (f"bf16 autocast: auto (a {m['n']}x{m['n']} bf16 matmul ran {fold} fp32's "
                        f"speed on {cpu_model()}, {m['bf16_gflops']:.0f} vs "
                        f"{m['fp32_gflops']:.0f} GFLOP/s; {when} {m.get('measured_at', '')})".rstrip())
    return "fp32", (f"fp32: auto (a bf16 matmul ran only {fold} fp32's speed on {cpu_model()}, "
                    f"below the {CPU_BF16_MARGIN}x that pays; {when})")


def autocast_dtype(device: str, dtype: str | None = None):
    """The autocast dtype (torch.bfloat16) or None (run in float32).

    dtype: the config's choice (auto | fp32 | bf16, see `precision`). None keeps the
    default of code that has no config (generation): bf16 on a CUDA device that supports
    it, float32 elsewhere."""
    import torch

    if dtype is None:
        if str(device).startswith("cuda") and torch.cuda.is_available() \
                and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return torch.bfloat16 if precision(device, dtype)[0] == "bf16" else None


def autocast(device: str, dtype: str | None = None):
    """The autocast context for `device` and the config's `dtype` (a no-op where
    autocast_dtype is None)."""
    import contextlib

    import torch

    amp = autocast_dtype(device, dtype)
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=str(device).split(":")[0], dtype=amp)


def describe_devices() -> list[dict]:
    """What the device choice can offer, best first: every CUDA GPU (name, free and total
    memory), MPS when present, and the CPU. Each entry has `device` (the string to pass to
    pick_device), `kind`, `label` (one line for the UI) and `available`."""
    import torch

    out: list[dict] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            name = torch.cuda.get_device_name(i)
            try:
                free, total = torch.cuda.mem_get_info(i)
            except RuntimeError:  # a busy or exclusive-mode GPU
                free = total = None
            memory = (f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
                      if total else "memory unknown")
            out.append({"device": f"cuda:{i}", "kind": "cuda", "name": name,
                        "free_bytes": free, "total_bytes": total, "available": True,
                        "dtype": precision(f"cuda:{i}", "auto")[0],
                        "label": f"cuda:{i} · {name} · {memory}"})
    if _mps_available():
        out.append({"device": "mps", "kind": "mps", "name": "Apple MPS", "available": True,
                    "dtype": "fp32", "label": "mps · Apple GPU · fp32"})
    threads = torch.get_num_threads()
    dtype, why = precision("cpu", "auto")  # measured once per CPU, then cached
    speed = cpu_bf16()
    note = f" ({speed['speedup']:.1f}x fp32)" if dtype == "bf16" and "speedup" in speed else ""
    out.append({"device": "cpu", "kind": "cpu", "name": cpu_model(), "available": True,
                "threads": threads, "dtype": dtype, "dtype_reason": why,
                "label": f"cpu · {threads} threads · {dtype}{note}"})
    return out
