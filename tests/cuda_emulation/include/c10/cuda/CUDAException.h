// Stand-in for c10/cuda/CUDAException.h in the CUDA emulation build: the launch check raises the
// error of a launch the emulator refused (bad grid, block or shared memory size).
#pragma once

#include <cuda_emulation.h>

#define C10_CUDA_KERNEL_LAUNCH_CHECK() ::emu::check_last_launch()
