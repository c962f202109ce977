// Launch shapes and vector accesses shared by the CUDA kernels of the op package.
#pragma once

#include <c10/util/Exception.h>
#include <cstdint>

namespace dcnv3 {

constexpr int kThreads = 256;

// Blocks of kThreads for ``work`` threads; CUDA allows 2^31 - 1 blocks along x.
inline int64_t blocks_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  TORCH_CHECK(blocks <= 2147483647LL, "ops_dcnv3: ", work, " threads exceed a CUDA launch (", kThreads,
              " x 2^31 - 1); split the batch");
  return blocks;
}

// A vector of kVec consecutive channels, loaded and stored as one access.
template <typename scalar_t, int kVec>
struct alignas(sizeof(scalar_t) * kVec) Channels {
  scalar_t v[kVec];
};

}  // namespace dcnv3
