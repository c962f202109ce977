// Declarations shared by the op registration and the device kernels.
#pragma once

#include <ATen/ATen.h>
#include <tuple>

#include "dcnv3_sampling.h"

namespace dcnv3 {

// Validates the scalar arguments and the input of DCNv3 and DCNv4 and derives their geometry.
// Errors name the argument at fault, prefixed with ``op`` ("dcnv3" or "dcnv4"); the Python
// front end checks the same things earlier with friendlier messages, this is the last line
// of defence. The offset / mask tensors are checked by the callers (check_points).
Geometry make_geometry(const char* op, const at::Tensor& input, int64_t kernel_h, int64_t kernel_w,
                       int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                       int64_t dilation_w, int64_t group, int64_t group_channels, double offset_scale,
                       int64_t remove_center);

// The offsets and mask of one call, and where they lie (PointLayout). DCNv3 passes two
// tensors; DCNv4 one offset_mask tensor, which is then both ``offset`` and ``mask``, the mask
// values starting ``mask_start`` elements in. Each is a tensor whose pixels are rows of
// unit-stride channels at one stride (pixel_rows), e.g. a column slice of a contiguous tensor.
struct PointTensors {
  at::Tensor offset, mask;
  int64_t mask_start;
  PointLayout layout;
};

// ``t`` itself when its pixels are rows of unit-stride channels at one stride (a column slice
// of a contiguous tensor), else a contiguous copy.
at::Tensor pixel_rows(const at::Tensor& t);

// True when the processor runs the AVX2+FMA builds of the CPU kernels (x86-64 only).
bool cpu_supports_avx2();

// The kernels. With softmax_mask (CPU only), the mask holds logits and each group's P weights
// are their softmax, computed on the fly (the gradient written is then the logits'). backward
// writes the offset and mask gradients into ``grads`` (allocated by the caller, in a layout of
// its choice) and returns the input's.
at::Tensor forward_cpu(const at::Tensor& input, const PointTensors& points, const Geometry& g, bool softmax_mask);
at::Tensor backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& points,
                        const PointTensors& grads, const Geometry& g, bool softmax_mask);

#ifdef WITH_CUDA
at::Tensor forward_cuda(const at::Tensor& input, const PointTensors& points, const Geometry& g);
at::Tensor backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& points,
                         const PointTensors& grads, const Geometry& g);
#endif

}  // namespace dcnv3
