"""Build of the ops_dcnv3 distribution: the compiled DCNv3 and DCNv4 operators.

A CPU kernel is always built. The CUDA kernel is added when PyTorch is a CUDA
build and a CUDA toolkit is found, or when FORCE_CUDA=1; FORCE_CUDA=0 forces a
CPU-only build. Build against the torch you will run with:
    pip install --no-build-isolation ./ops_dcnv3
"""
import glob
import os
import sys

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _toolkit_root(path):
    """True if ``path`` holds a CUDA toolkit we can compile and link with."""
    return bool(path) and os.path.isfile(os.path.join(path, 'bin', 'nvcc')) and bool(
        glob.glob(os.path.join(path, 'lib*', 'libcudart.so*'))
        or glob.glob(os.path.join(path, 'targets', '*', 'lib', 'libcudart.so*')))


def _locate_cuda_home():
    """Find the CUDA toolkit root before torch guesses it.

    torch derives CUDA_HOME from the ``nvcc`` first on PATH; when that is a
    wrapper script living elsewhere, the guess has no libcudart and the link
    fails. Prefer an explicit CUDA_HOME/CUDA_PATH, then the usual install roots.
    """
    for var in ('CUDA_HOME', 'CUDA_PATH'):
        if os.environ.get(var):
            return os.environ[var]
    candidates = ['/usr/local/cuda'] + sorted(glob.glob('/usr/local/cuda-*'), reverse=True)
    return next((c for c in candidates if _toolkit_root(c)), None)


cuda_home = _locate_cuda_home()
if cuda_home:
    os.environ['CUDA_HOME'] = cuda_home

import torch  # noqa: E402  (after CUDA_HOME is settled: cpp_extension reads it on import)
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402


def _want_cuda():
    force = os.environ.get('FORCE_CUDA')
    if force is not None and force not in ('0', '1'):
        sys.exit(f'ops_dcnv3: FORCE_CUDA must be 0 or 1, got {force!r}')
    if force == '1':
        if not _toolkit_root(cuda_home):
            sys.exit(f'ops_dcnv3: FORCE_CUDA=1 but no CUDA toolkit was found (CUDA_HOME={cuda_home!r}); '
                     'set CUDA_HOME to the folder holding bin/nvcc and lib64/libcudart.so')
        return True
    if force == '0':
        return False
    return torch.version.cuda is not None and _toolkit_root(cuda_home)


def _extension():
    sources = ['csrc/dcnv3_ops.cpp', 'csrc/dcnv3_autograd.cpp', 'csrc/cpu/dcnv3_cpu.cpp',
               'csrc/ms_deform_attn_ops.cpp', 'csrc/ms_deform_attn_autograd.cpp', 'csrc/cpu/ms_deform_attn_cpu.cpp']
    cxx_flags = ['-O3', '-std=c++20', '-fopenmp-simd']
    link_flags = []
    if sys.platform.startswith('linux'):
        # at::parallel_for is inlined from the headers: without OpenMP it runs serially.
        # libgomp resolves to the copy torch already loaded (same soname), one runtime.
        cxx_flags.append('-fopenmp')
        link_flags.append('-fopenmp')
    if _want_cuda():
        if not os.environ.get('TORCH_CUDA_ARCH_LIST') and not torch.cuda.is_available():
            # No GPU to ask: build for the data-centre generations plus PTX for newer ones.
            os.environ['TORCH_CUDA_ARCH_LIST'] = '8.0;9.0+PTX'
        print(f'ops_dcnv3: building CPU and CUDA kernels (CUDA_HOME={cuda_home}, '
              f'TORCH_CUDA_ARCH_LIST={os.environ.get("TORCH_CUDA_ARCH_LIST", "auto")})')
        return CUDAExtension(
            'ops_dcnv3._C', sources + ['csrc/cuda/dcnv3_cuda.cu', 'csrc/cuda/ms_deform_attn_cuda.cu'],
            define_macros=[('WITH_CUDA', None)],
            extra_compile_args={'cxx': cxx_flags, 'nvcc': ['-O3', '-std=c++20']}, extra_link_args=link_flags)
    print('ops_dcnv3: building the CPU kernel only')
    return CppExtension('ops_dcnv3._C', sources, extra_compile_args={'cxx': cxx_flags}, extra_link_args=link_flags)


setup(
    name='ops_dcnv3',
    version='1.0.0',
    description=('DCNv3, DCNv4 and multi-scale deformable attention operators (InternImage) with CPU and CUDA '
                 'kernels and PyTorch references'),
    packages=find_packages(include=['ops_dcnv3', 'ops_dcnv3.*']),
    ext_modules=[_extension()],
    cmdclass={'build_ext': BuildExtension},
    python_requires='>=3.9',
    install_requires=['torch>=2.4'],
    zip_safe=False,
)
