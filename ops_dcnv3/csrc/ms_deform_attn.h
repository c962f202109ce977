// Multi-scale deformable attention (Deformable DETR), with the semantics of mmcv's
// multi_scale_deformable_attn_pytorch / MultiScaleDeformableAttention:
//
//   value               (N, K, heads, D): the keys of all levels, level l's H_l x W_l pixels
//                       row-major from key level_start[l] (channels-last: a key is heads x D
//                       contiguous channels)
//   spatial_shapes      (L, 2) int64, (H_l, W_l)
//   level_start_index   (L,) int64
//   sampling_locations  (N, Q, heads, L, P, 2), (x, y) normalised to [0, 1] over the level
//   attention_weights   (N, Q, heads, L, P)
//   output              (N, Q, heads x D)
//
//   out[n, q, h*D + d] = sum_{l, p} w[n, q, h, l, p] * bilinear(value level l, head h, channel d,
//                                                        x W_l - 0.5, y H_l - 0.5)
//
// i.e. grid_sample with align_corners=False and zero padding: taps outside the level are 0.
#pragma once

#include <ATen/ATen.h>
#include <tuple>
#include <vector>

namespace dcnv3 {

struct MsdaGeometry {
  int64_t batch, keys, heads, channels;  // channels: D per head
  int64_t queries, levels, points;
};

// The level shapes and start indices, on the host (read once per call on the CPU).
struct MsdaLevels {
  std::vector<int64_t> height, width, start;
};

MsdaLevels msda_levels(const at::Tensor& spatial_shapes, const at::Tensor& level_start_index);

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const MsdaLevels& levels,
                                      const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
                                      const MsdaGeometry& g);
// How many query chunks the CPU backward cuts each (image, head) pair into on ``threads``
// threads (1: none).
int64_t ms_deform_attn_backward_chunks(const MsdaGeometry& g, int64_t threads);
std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& value, const MsdaLevels& levels,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights, const MsdaGeometry& g);

#ifdef WITH_CUDA
// The CUDA kernels read the level shapes and starts from device tensors (no host sync).
at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                       const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                                       const at::Tensor& attention_weights, const MsdaGeometry& g);
std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
    const MsdaGeometry& g);
#endif

}  // namespace dcnv3
