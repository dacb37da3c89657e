"""Where a timing was taken: the CPU model and its ISA flags (as `lscpu` shows them), cores,
OS and runtime versions. int8 against float, and XNNPACK's kernels, depend on the ISA
(AVX-512 VNNI, BF16 on x86; dot-product and i8mm on Arm), so every timing records it."""

import importlib.metadata
import os
import platform
from pathlib import Path

# The flags that decide which XNNPACK / TFLite kernels run (x86 and Arm names in
# /proc/cpuinfo); the full list is long and says nothing more about inference speed.
ISA_PREFIXES = ("sse", "ssse3", "avx", "fma", "f16c", "amx", "vnni", "bf16", "asimd", "neon",
                "fp16", "fphp", "i8mm", "sve", "sme", "dotprod", "asimddp")
# Flags that share a prefix but are not about arithmetic (x86 SMEP is a security feature).
NOT_ISA = frozenset({"smep"})


def cpu_flags(cpuinfo_text):
    """The ISA flags of the first processor in a /proc/cpuinfo text (sorted, deduplicated)."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return sorted({flag for flag in value.split()
                           if flag.startswith(ISA_PREFIXES) and flag not in NOT_ISA})
    return []


def machine_info():
    """`{cpu, isa_flags, machine, cpu_count, os, python, tensorflow, ai_edge_litert}`.

    Example:
        >>> machine_info()["cpu"]  # e.g. "AMD EPYC" (lscpu's "Model name")
    """
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    flags = cpu_flags(text)
    return {
        "cpu": cpu,
        "isa_flags": flags,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "ai_edge_litert": _version("ai-edge-litert"),
    }


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
