"""Builds (once, cached) and loads the CUDA emulation of the op package's kernels.

The library holds: ops_dcnv3/csrc/cuda/*.cu rewritten for the emulator (rewrite.py), twice (as
written, and a copy with the planted bugs of mutations.py), the operator wrappers of
ops_dcnv3/csrc with WITH_CUDA (emulated_ops.cpp) and the emulator's own rule-breaking kernels
(selftest.cu). It is compiled with the host C++ compiler against the venv's torch headers, no CUDA
toolkit; torch.utils.cpp_extension caches it under tests/cuda_emulation/build/ and rebuilds what
changed (ninja). ``cd tests && python -m cuda_emulation.build`` builds it by hand.
"""
import os
import pathlib
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CSRC = ROOT / 'ops_dcnv3' / 'csrc'
BUILD = HERE / 'build'
NAME = 'dcnv3_cuda_emulation'
HOST_WRAPPERS = ('forward_cuda', 'backward_cuda', 'ms_deform_attn_forward_cuda', 'ms_deform_attn_backward_cuda')

from .mutations import plant
from .rewrite import rewrite

# Sanitizer checks (misaligned accesses, indices past local arrays) trap; the emulator turns the
# trap into an error naming the kernel, block and thread.
FLAGS = ['-O1', '-std=c++20', '-DWITH_CUDA', '-fno-strict-aliasing', '-fsanitize=alignment,bounds',
         '-fsanitize-undefined-trap-on-error', '-Wno-unused-function', '-Wno-sign-compare',
         '-Wno-unknown-pragmas']  # nvcc's #pragma unroll


def _write_if_changed(path, text):
    """Keeps the file's time stamp when its text is unchanged, so that ninja does not rebuild it."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return str(path)


def generate():
    """The emulation sources of the kernels under BUILD/generated; returns all sources to compile
    and the number of launches the rewrite converted per file."""
    out = BUILD / 'generated'
    out.mkdir(parents=True, exist_ok=True)
    sources, launches = [], {}
    for cu in sorted((CSRC / 'cuda').glob('*.cu')):
        text = cu.read_text()
        origin = cu.relative_to(ROOT).as_posix()
        for copy, body in (('clean', text), ('mutant', plant(text, cu.name))):
            renames = [(name, f'{name}_{copy}') for name in HOST_WRAPPERS]
            code, count = rewrite(body, origin, renames)
            sources.append(_write_if_changed(out / f'{cu.stem}_{copy}.cpp', code))
            launches[f'{cu.name} ({copy})'] = count
    code, count = rewrite((HERE / 'selftest.cu').read_text(), 'tests/cuda_emulation/selftest.cu')
    sources.append(_write_if_changed(out / 'selftest.cpp', code))
    launches['selftest.cu'] = count
    return sources + [str(HERE / 'emulated_ops.cpp')], launches


def load(verbose=False):
    """The emulation library as a Python module (built or rebuilt first when needed)."""
    from torch.utils import cpp_extension
    sources, _ = generate()
    os.environ.setdefault('MAX_JOBS', str(os.cpu_count() or 2))
    return cpp_extension.load(
        name=NAME, sources=sources, build_directory=str(BUILD), with_cuda=False, verbose=verbose,
        extra_include_paths=[str(HERE / 'include'), str(CSRC / 'cuda'), str(CSRC)],
        extra_cflags=FLAGS, extra_ldflags=['-fsanitize=alignment,bounds'])


if __name__ == '__main__':
    start = time.monotonic()
    module = load(verbose=True)
    print(f'{module.__file__} ready in {time.monotonic() - start:.0f} s')
