"""What the trainer's hardware is doing, for status.json and the Train screen: the device,
its memory used / total, its utilization, tokens/s and MFU.

Sampled at log intervals only (the allocator's counters, one NVML query or /proc), never
per micro-batch; the loop adds each step's tokens and seconds (two additions).

MFU, model FLOPs utilization, is the FLOP/s the model's arithmetic needs at the measured
tokens/s over the device's peak FLOP/s, by nanoGPT's `estimate_mfu` (karpathy/nanoGPT
model.py, after the PaLM paper's appendix B): per token, 6·N for the weights' forward and
backward plus 12·L·H·Q·T for attention, with N the parameters less the position table
(nanoGPT's `get_num_params(non_embedding=True)`: the token table stays, it is the tied LM
head), L layers, H heads, Q the head size and T the row length (max_len; nanoGPT's
block_size). These are model FLOPs: padding is not counted (tokens are real tokens), and
the LM head is counted at every token, although the workbench runs it only where there is
a target. The peak: for CUDA in bf16 a table of dense bf16 tensor-core peaks by device
name; otherwise a matmul in the run's dtype, measured once and cached per device model,
dtype and thread count (`<cache>/peaks.json`, the dataset cache's folder).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    # dense bf16 (no sparsity), from the vendors' data sheets; the first match wins, so a
    # name that contains another comes first (H100 PCIe before H100, L40S before L4)
    ("GH200", 989.0), ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0),
    ("H800", 989.0), ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0),
    ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0),
    ("RTX 4090", 165.0), ("RTX 3090", 71.0),
)


def flops_per_token(n_params: int, n_layer: int, n_head: int, head_dim: int,
                    seq_len: int) -> int:
    """nanoGPT's estimate_mfu, per token: 6·N + 12·L·H·Q·T (forward and backward)."""
    return 6 * n_params + 12 * n_layer * n_head * head_dim * seq_len


def model_flops_per_token(model, seq_len: int) -> int:
    """flops_per_token for a workbench GPT at rows of `seq_len` positions (N: every
    parameter, the tied head once, less the position table, as nanoGPT counts)."""
    cfg = model.config
    n = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    return flops_per_token(n, cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, seq_len)


def mfu(flops_token: float, tokens_per_s: float, peak_flops: float) -> float:
    """Achieved model FLOP/s over the peak (0..1)."""
    return flops_token * tokens_per_s / peak_flops if peak_flops > 0 else 0.0


# -- the device -------------------------------------------------------------------------

def cpu_name() -> str:
    """The CPU's model name (one reader: workbench.device.cpu_model)."""
    from ..device import cpu_model

    return cpu_model()


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple MPS"
    return cpu_name()


def memory(device: str) -> tuple[int | None, int | None]:
    """(bytes used, bytes in all): on CUDA what torch's allocator holds (reserved) and the
    GPU's memory; on the CPU (and MPS) this process's resident memory and the RAM."""
    import torch

    try:
        if device.startswith("cuda"):
            dev = torch.device(device)
            return torch.cuda.memory_reserved(dev), torch.cuda.mem_get_info(dev)[1]
        if device == "mps":
            return torch.mps.current_allocated_memory(), _ram_total()
    except Exception:  # noqa: BLE001 - telemetry is advice; it never stops a run
        return None, None
    return _rss(), _ram_total()


def _rss() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        try:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the peak
        except Exception:  # noqa: BLE001
            return None


def _ram_total() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


_NVML: dict = {}


def gpu_utilization(device: str) -> float | None:
    """The GPU's utilization in % over NVML's last sample period: through nvidia-ml-py
    (`pynvml`) when importable, else torch.cuda.utilization (which needs it too on most
    builds); None where neither answers."""
    import torch

    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    try:
        import pynvml

        if "handle" not in _NVML:
            pynvml.nvmlInit()
            handle = None
            uuid = str(getattr(torch.cuda.get_device_properties(index), "uuid", "") or "")
            if uuid:
                try:
                    handle = pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
                except Exception:  # noqa: BLE001 - fall back to the index
                    handle = None
            _NVML["handle"] = handle or pynvml.nvmlDeviceGetHandleByIndex(index)
        return float(pynvml.nvmlDeviceGetUtilizationRates(_NVML["handle"]).gpu)
    except Exception:  # noqa: BLE001
        pass
    try:
        return float(torch.cuda.utilization(index))
    except Exception:  # noqa: BLE001
        return None


# -- the peak -----------------------------------------------------------------------------

def table_peak(name: str) -> float | None:
    """The dense bf16 peak FLOP/s of a GPU by name, or None for one not in the table."""
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in name.lower():
            return tflops * 1e12
    return None


def measure_matmul_peak(device: str, dtype: str = "fp32", n: int | None = None,
                        reps: int = 5) -> float:
    """FLOP/s of a square matmul in `dtype` ("fp32" or "bf16") on `device`, best of `reps`
    after a warm-up (n: 4096 on a GPU, 1024 on the CPU: about 0.2 s on two cores)."""
    import torch

    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    n = n or (4096 if device.startswith("cuda") else 1024)
    g = torch.Generator(device=device).manual_seed(0)  # the run's RNG stays untouched
    a = torch.randn(n, n, device=device, generator=g).to(torch_dtype)
    b = torch.randn(n, n, device=device, generator=g).to(torch_dtype)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    a @ b
    sync()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def _cache_file() -> Path:
    """peaks.json beside the CPU measurements (workbench.device.cache_file's folder)."""
    from ..device import cache_file

    return cache_file().with_name("peaks.json")


def device_peak(device: str, dtype: str = "fp32") -> tuple[float, str]:
    """(peak FLOP/s, where it came from: "table" or "measured") for `device` in `dtype`.
    A measured peak is cached per device model, dtype and (CPU) thread count."""
    import torch

    name = device_name(device)
    if device.startswith("cuda") and dtype == "bf16":
        peak = table_peak(name)
        if peak:
            return peak, "table"
    threads = torch.get_num_threads() if not device.startswith(("cuda", "mps")) else 0
    key = f"{name}|{dtype}|{threads}"
    path = _cache_file()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and isinstance(cached.get(key), (int, float)):
        return float(cached[key]), "measured"
    peak = measure_matmul_peak(device, dtype)
    try:
        from ..fsutil import write_json_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {**(cached if isinstance(cached, dict) else {}), key: peak})
    except OSError:
        pass  # an unwritable cache: measured again next time
    return peak, "measured"


# -- the trainer's side ---------------------------------------------------------------

class Telemetry:
    """Counts tokens and step seconds between log lines; `sample()` turns them into the
    status fields. The peak is looked up (or measured) once, when it is made."""

    def __init__(self, model, device: str, seq_len: int, dtype: str = "fp32",
                 world: int = 1) -> None:
        self.device = device
        self.dtype = dtype
        self.world = max(1, world)
        self.name = device_name(device)
        self.flops_token = model_flops_per_token(model, seq_len)
        try:
            self.peak, self.peak_source = device_peak(device, dtype)
        except Exception:  # noqa: BLE001 - no MFU then, the rest still works
            self.peak, self.peak_source = 0.0, None
        self.tokens = 0
        self.seconds = 0.0
        self._cpu = (time.perf_counter(), _cpu_seconds())

    def step(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds

    def sample(self) -> dict:
        """The status fields since the last sample (the counters restart)."""
        out: dict = {"device_name": self.name}
        used, total = memory(self.device)
        if used is not None:
            out["memory_used_gib"] = round(used / 2**30, 2)
        if total is not None:
            out["memory_total_gib"] = round(total / 2**30, 2)
        util = self._utilization()
        if util is not None:
            out["utilization_pct"] = round(util, 1)
        if self.seconds > 0 and self.tokens:
            rate = self.tokens / self.seconds
            out["tokens_per_s_avg"] = round(rate, 1)
            if self.peak:
                out["mfu"] = round(mfu(self.flops_token, rate, self.peak * self.world), 4)
                out["peak_tflops"] = round(self.peak / 1e12, 3)
                out["peak_source"] = f"{self.peak_source} {self.dtype}"
        self.tokens, self.seconds = 0, 0.0
        return out

    def _utilization(self) -> float | None:
        if self.device.startswith("cuda"):
            return gpu_utilization(self.device)
        if self.device == "mps":
            return None
        # the CPU: this process's CPU time over the wall time, per torch thread
        import torch

        now = (time.perf_counter(), _cpu_seconds())
        (w0, c0), (w1, c1) = self._cpu, now
        self._cpu = now
        if c0 is None or c1 is None or w1 <= w0:
            return None
        return min(100.0, 100.0 * (c1 - c0) / (w1 - w0) / max(1, torch.get_num_threads()))


def _cpu_seconds() -> float | None:
    try:
        t = os.times()
        return t.user + t.system
    except OSError:
        return None


# -- the Train screen's line ------------------------------------------------------------

TELEMETRY_FIELDS = ("device_name", "memory_used_gib", "memory_total_gib", "utilization_pct",
                    "mfu")


def telemetry_line(status: dict) -> str | None:
    """One short line from a status: "NVIDIA H200 · mem 12.3/139.8 GiB · util 97% ·
    412k tok/s · MFU 41%"; the parts a status lacks are left out. None for a status with
    no telemetry (written before it existed, or before the first log line)."""
    if not any(status.get(k) is not None for k in TELEMETRY_FIELDS):
        return None
    parts = []
    if status.get("device_name"):
        parts.append(str(status["device_name"]))
    used, total = status.get("memory_used_gib"), status.get("memory_total_gib")
    if used is not None:
        parts.append(f"mem {used:.1f}/{total:.1f} GiB" if total else f"mem {used:.1f} GiB")
    if status.get("utilization_pct") is not None:
        parts.append(f"util {status['utilization_pct']:.0f}%")
    rate = status.get("tokens_per_s_avg", status.get("tokens_per_s"))
    if rate is not None:
        parts.append(f"{_count(rate)} tok/s")
    if status.get("mfu") is not None:
        parts.append(f"MFU {100 * status['mfu']:.0f}%" if status["mfu"] >= 0.1
                     else f"MFU {100 * status['mfu']:.1f}%")
    return " · ".join(parts)


def _count(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e5:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"
