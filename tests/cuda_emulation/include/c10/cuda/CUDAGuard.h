// Stand-in for c10/cuda/CUDAGuard.h in the CUDA emulation build: the emulated kernels run on CPU
// tensors, so the guard checks that the tensors are there.
#pragma once

#include <c10/core/Device.h>
#include <c10/util/Exception.h>

namespace c10::cuda {

struct CUDAGuard {
  explicit CUDAGuard(c10::Device device) {
    TORCH_CHECK(device.is_cpu(), "CUDA emulation: the emulated kernels take CPU tensors, got ", device);
  }
  CUDAGuard(const CUDAGuard&) = delete;
  CUDAGuard& operator=(const CUDAGuard&) = delete;
};

}  // namespace c10::cuda
