"""Bugs planted in a copy of the CUDA kernels, to prove that the emulated tests catch each kind.

The copy (built into the same emulation library, beside the clean kernels) holds every bug behind
``::emu::mutation() == k``; ``set_mutation(k)`` switches bug k on and routes the operator wrappers
to the copy. Each entry: a name, the file, the exact text of the kernel and its replacement, with
MUTANT standing for the switch.
"""
from typing import NamedTuple


class Mutation(NamedTuple):
    name: str
    file: str  # under ops_dcnv3/csrc/cuda
    original: str
    planted: str
    occurrence: int = -1  # which occurrence of ``original`` (0: the first); -1: it must be unique


DCN = 'dcnv3_cuda.cu'
MSDA = 'ms_deform_attn_cuda.cu'

MUTATIONS = [
    Mutation('forward channel index off by one', DCN,
             'const int64_t channel = grp * g.group_channels + (idx % vectors) * kVec;',
             'const int64_t channel = grp * g.group_channels + (idx % vectors) * kVec + (MUTANT ? 1 : 0);'),
    Mutation('forward skips the last element (partial block)', DCN,
             'if (idx >= total) return;', 'if (idx >= total - (MUTANT ? 1 : 0)) return;', occurrence=0),
    Mutation('forward alignment check removed', DCN,
             'if (g.group_channels % kVec == 0 && aligned) {',
             'if (g.group_channels % kVec == 0 && (aligned || MUTANT)) {'),
    Mutation('warp reduction stops one step early', DCN,
             'for (int width = kCg / 2; width > 0; width /= 2) {',
             'for (int width = kCg / 2; width > (MUTANT ? 1 : 0); width /= 2) {'),
    Mutation('early return before the warp shuffles', DCN,
             'const bool active = idx < total;', 'const bool active = idx < total; if (MUTANT && !active) return;'),
    Mutation('MSDA forward writes one vector past the output', MSDA,
             'const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;\n'
             '  if (idx >= total) return;',
             'const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;\n'
             '  if (idx >= total + (MUTANT ? 1 : 0)) return;'),
    Mutation('generic backward reads the offset before the pixel (index -1)', DCN,
             'const int64_t o = layout.offset_at(pix, grp, k), go = grad_layout.offset_at(pix, grp, k);',
             'const int64_t o = layout.offset_at(pix, grp, k) - (MUTANT && idx == 0 ? 1 : 0), '
             'go = grad_layout.offset_at(pix, grp, k);'),
    Mutation('MSDA lane sum cut short', MSDA,
             'for (int offset = static_cast<int>(lanes) / 2; offset > 0; offset /= 2)',
             'for (int offset = static_cast<int>(lanes) / 2; offset > (MUTANT ? 1 : 0); offset /= 2)'),
    Mutation('MSDA __syncthreads removed after loading the level table', MSDA,
             '    shared[3 * l + 2] = starts[l];\n  }\n  __syncthreads();',
             '    shared[3 * l + 2] = starts[l];\n  }\n  if (!(MUTANT)) __syncthreads();'),
    Mutation('MSDA shuffles over lane counts that are not a power of two', MSDA,
             'const bool shuffle = lanes <= 32 && (lanes & (lanes - 1)) == 0;',
             'const bool shuffle = lanes <= 32 && (MUTANT || (lanes & (lanes - 1)) == 0);'),
    Mutation('MSDA vector path without the alignment check', MSDA,
             'if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;',
             'if (!(MUTANT) && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;'),
]


def plant(text, file):
    """``text`` of ``file`` with every bug of that file planted behind its switch (numbered from 1)."""
    for number, mutation in enumerate(MUTATIONS, start=1):
        if mutation.file != file:
            continue
        found = text.count(mutation.original)
        if found <= mutation.occurrence or (mutation.occurrence < 0 and found != 1):
            raise ValueError(f'{file}: the text of mutation {number} ({mutation.name}) is found {found} times')
        start = -1
        for _ in range(max(mutation.occurrence, 0) + 1):
            start = text.index(mutation.original, start + 1)
        planted = mutation.planted.replace('MUTANT', f'(::emu::mutation() == {number})')
        text = text[:start] + planted + text[start + len(mutation.original):]
    return text
