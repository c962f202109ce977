"""The op package's CUDA kernels (ops_dcnv3/csrc/cuda) built for and run on the CPU with a CUDA
emulation; see README.md here and docs/en/advanced_guides/cuda_emulation.md."""
