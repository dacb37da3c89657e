"""Every timing records where it ran: the CPU model and its ISA flags."""

from lcnet_tf.export.machine import cpu_flags, machine_info

CPUINFO = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 ssse3 sse4_1 avx avx2 fma f16c avx512f avx512_vnni avx512_bf16 rdrand smep
processor\t: 1
flags\t\t: fpu sse
"""


def test_cpu_flags_keep_the_isa_of_the_first_processor():
    assert cpu_flags(CPUINFO) == ["avx", "avx2", "avx512_bf16", "avx512_vnni", "avx512f", "f16c",
                                  "fma", "sse", "sse2", "sse4_1", "ssse3"]
    assert cpu_flags("Features\t: fp asimd asimddp i8mm crc32") == ["asimd", "asimddp", "i8mm"]
    assert cpu_flags("") == []


def test_machine_info_names_the_cpu_and_the_runtimes():
    info = machine_info()
    assert info["cpu"] and info["cpu_count"] >= 1 and info["tensorflow"]
    assert isinstance(info["isa_flags"], list)
