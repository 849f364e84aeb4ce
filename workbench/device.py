"""Which device to run on, and in which precision.

`auto` picks CUDA, then Apple's MPS, then the CPU. Autocast to bfloat16 is used on CUDA
only: on MPS and the CPU the model runs in float32 (bf16 matmuls there are slow or
unsupported, and fp32 keeps the CPU results identical to the reference implementation).

torch is imported inside the functions, so the TUI can list these choices without paying
for the import until it needs it.
"""

from __future__ import annotations

from .errors import WorkbenchError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


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


def autocast_dtype(device: str):
    """torch.bfloat16 on a CUDA device that supports it, else None (run in float32)."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: str):
    """The autocast context for `device` (a no-op where autocast_dtype is None)."""
    import contextlib

    import torch

    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=str(device).split(":")[0], dtype=dtype)


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
                        "dtype": "bf16" if autocast_dtype(f"cuda:{i}") else "fp32",
                        "label": f"cuda:{i} · {name} · {memory}"})
    if _mps_available():
        out.append({"device": "mps", "kind": "mps", "name": "Apple MPS", "available": True,
                    "dtype": "fp32", "label": "mps · Apple GPU · fp32"})
    threads = torch.get_num_threads()
    out.append({"device": "cpu", "kind": "cpu", "name": "CPU", "available": True,
                "threads": threads, "dtype": "fp32", "label": f"cpu · {threads} threads · fp32"})
    return out
