// Declarations shared by the op registration and the device kernels.
#pragma once

#include <ATen/ATen.h>
#include <tuple>

#include "dcnv3_sampling.h"

namespace dcnv3 {

// Validates the operator's arguments and derives its geometry. Errors name the
// argument at fault; the Python front end checks the same things earlier with
// friendlier messages, this is the last line of defence.
Geometry make_geometry(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                       int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                       int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                       int64_t group, int64_t group_channels, double offset_scale,
                       int64_t remove_center);

// The CPU kernels read offset and mask through a per-pixel stride: both may be column
// slices of one (N, H_out, W_out, *) tensor, as when one matmul computes them (see
// pixel_rows). With softmax_mask, ``mask`` holds logits and each group's P weights are
// their softmax, computed on the fly (the gradient returned is then the logits').
at::Tensor forward_cpu(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                       const Geometry& g, bool softmax_mask);
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset,
    const at::Tensor& mask, const Geometry& g, bool softmax_mask);

// ``t`` itself when its pixels are rows of unit-stride channels at one stride (a column slice
// of a contiguous tensor), else a contiguous copy.
at::Tensor pixel_rows(const at::Tensor& t);

#ifdef WITH_CUDA
at::Tensor forward_cuda(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                        const Geometry& g);
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset,
    const at::Tensor& mask, const Geometry& g);
#endif

}  // namespace dcnv3
