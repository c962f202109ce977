// Stand-in for c10/cuda/CUDAStream.h in the CUDA emulation build: one stream, the CPU.
#pragma once

#include <c10/core/Device.h>

namespace c10::cuda {

struct CUDAStream {
  c10::DeviceType device_type() const { return c10::DeviceType::CPU; }
};

inline CUDAStream getCurrentCUDAStream(c10::DeviceIndex = -1) { return {}; }

}  // namespace c10::cuda
