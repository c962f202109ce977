// Kernels that break the rules of the CUDA execution model on purpose, one per rule the emulator
// enforces, plus two that follow them (partial warps, early exits before a barrier); built through
// the same rewrite as the op package's kernels. run_selftest(name) launches one on the host and
// returns, or raises the emulator's error.
#include <c10/cuda/CUDAException.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct alignas(16) Vector4 {
  float v[4];
};

// Lane 5 returns, then its warp sums over all 32 lanes.
__global__ void exited_lane(float* out) {
  if (threadIdx.x == 5) return;
  float v = 1.0f;
  for (int width = 16; width > 0; width /= 2) v += __shfl_xor_sync(0xffffffffu, v, width);
  out[threadIdx.x] = v;
}

// A block of 40 threads: its second warp has 8 lanes, but the mask names 32.
__global__ void missing_lane(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

// Even and odd threads wait at different barriers.
__global__ void split_barrier(float* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

// Lanes of one warp: some at a barrier, others at a shuffle naming them.
__global__ void shuffle_against_barrier(float* out) {
  if (threadIdx.x < 16) {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  } else {
    __syncthreads();
  }
}

// A lane reads from a lane its mask leaves out.
__global__ void outside_mask(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, threadIdx.x < 16 ? 16 : 0);
}

// Writes one int64 past the dynamic shared memory of the launch.
__global__ void shared_overrun(float* out) {
  extern __shared__ int64_t slots[];
  slots[blockDim.x] = 1;
  out[threadIdx.x] = 1.0f;
}

// A 16-byte vector load from an address 4 bytes past a 16-byte boundary.
__global__ void misaligned_vector(const float* in, float* out) {
  const Vector4 v = *reinterpret_cast<const Vector4*>(in + 1);
  out[threadIdx.x] = v.v[0];
}

// Recursion without end: the fiber's stack overflows into its guard page.
__device__ int deeper(int depth) {
  volatile char frame[4096];
  frame[depth % 4096] = static_cast<char>(depth);
  return depth < 0 ? 0 : deeper(depth + 1) + frame[0];
}

__global__ void stack_overflow(float* out) { out[threadIdx.x] = static_cast<float>(deeper(0)); }

// Sums over 8-lane groups in a block of 44 threads (a partial last warp), with threads past 40
// returning after a barrier: must give 8 everywhere.
__global__ void partial_warp_sums(float* out, int active) {
  extern __shared__ int64_t flags[];
  flags[threadIdx.x] = threadIdx.x;
  __syncthreads();
  if (static_cast<int>(threadIdx.x) >= active) return;
  float v = flags[threadIdx.x] == threadIdx.x ? 1.0f : 0.0f;
  const unsigned group = 0xffu << (threadIdx.x % 32 / 8 * 8);
  for (int width = 4; width > 0; width /= 2) v += __shfl_xor_sync(group, v, width, 8);
  out[threadIdx.x] = v;
}

std::vector<float> buffer(64, 0.0f);
alignas(16) float aligned_input[64] = {};

const std::map<std::string, std::function<void()>>& selftests() {
  static const std::map<std::string, std::function<void()>> tests{
      {"exited-lane", [] { exited_lane<<<1, 32>>>(buffer.data()); }},
      {"missing-lane", [] { missing_lane<<<1, 40>>>(buffer.data()); }},
      {"split-barrier", [] { split_barrier<<<2, 32>>>(buffer.data()); }},
      {"shuffle-against-barrier", [] { shuffle_against_barrier<<<1, 32>>>(buffer.data()); }},
      {"outside-mask", [] { outside_mask<<<1, 32>>>(buffer.data()); }},
      {"shared-overrun", [] { shared_overrun<<<1, 32, 32 * sizeof(int64_t)>>>(buffer.data()); }},
      {"misaligned-vector", [] { misaligned_vector<<<1, 1>>>(aligned_input, buffer.data()); }},
      {"stack-overflow", [] { stack_overflow<<<1, 2>>>(buffer.data()); }},
      {"too-many-threads", [] { exited_lane<<<1, 1025>>>(buffer.data()); }},
      {"too-much-shared", [] { shared_overrun<<<1, 32, 48 * 1024 + 8>>>(buffer.data()); }},
      {"too-many-blocks", [] { exited_lane<<<2147483648LL, 32>>>(buffer.data()); }},
      {"partial-warp-sums", [] {
         partial_warp_sums<<<1, 44, 44 * sizeof(int64_t)>>>(buffer.data(), 40);
         for (int t = 0; t < 40; ++t) {
           if (buffer[t] != 8.0f) throw std::runtime_error("partial-warp-sums: thread " + std::to_string(t) + " has " +
                                                           std::to_string(buffer[t]) + ", not 8");
         }
       }},
  };
  return tests;
}

}  // namespace

std::vector<std::string> selftest_names() {
  std::vector<std::string> names;
  for (const auto& entry : selftests()) names.push_back(entry.first);
  return names;
}

void run_selftest(const std::string& name) {
  const auto found = selftests().find(name);
  if (found == selftests().end()) throw std::invalid_argument("no selftest " + name);
  found->second();
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}
