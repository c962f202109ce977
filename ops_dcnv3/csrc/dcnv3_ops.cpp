// Registers the DCNv3 operators with the PyTorch dispatcher (torch.library):
// their schemas, CPU kernels here, CUDA kernels when built with CUDA. Autograd,
// the fake (meta) implementation and autocast are registered from Python
// (ops_dcnv3/_extension.py), on top of these schemas.
#include <torch/library.h>
#include <torch/extension.h>

#include "dcnv3.h"

namespace dcnv3 {

Geometry make_geometry(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                       int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                       int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                       int64_t group, int64_t group_channels, double offset_scale,
                       int64_t remove_center) {
  TORCH_CHECK(input.dim() == 4, "dcnv3: input must be (N, H, W, C), got ", input.sizes());
  TORCH_CHECK(offset.dim() == 4 && mask.dim() == 4, "dcnv3: offset and mask must be 4-d (N, H_out, W_out, *)");
  TORCH_CHECK(kernel_h > 0 && kernel_w > 0 && stride_h > 0 && stride_w > 0 && dilation_h > 0 &&
                  dilation_w > 0 && pad_h >= 0 && pad_w >= 0,
              "dcnv3: kernel, stride and dilation must be positive, padding non-negative");
  TORCH_CHECK(group > 0 && group * group_channels == input.size(3),
              "dcnv3: channels ", input.size(3), " != group ", group, " x group_channels ", group_channels);
  TORCH_CHECK(remove_center == 0 || (kernel_h % 2 == 1 && kernel_w % 2 == 1),
              "dcnv3: remove_center needs an odd kernel, got ", kernel_h, "x", kernel_w);
  Geometry g;
  g.batch = input.size(0);
  g.height_in = input.size(1);
  g.width_in = input.size(2);
  g.channels = input.size(3);
  g.height_out = (g.height_in + 2 * pad_h - (dilation_h * (kernel_h - 1) + 1)) / stride_h + 1;
  g.width_out = (g.width_in + 2 * pad_w - (dilation_w * (kernel_w - 1) + 1)) / stride_w + 1;
  g.group = group;
  g.group_channels = group_channels;
  g.points = kernel_h * kernel_w - (remove_center ? 1 : 0);
  g.kernel_h = kernel_h; g.kernel_w = kernel_w;
  g.stride_h = stride_h; g.stride_w = stride_w;
  g.pad_h = pad_h; g.pad_w = pad_w;
  g.dilation_h = dilation_h; g.dilation_w = dilation_w;
  g.offset_scale = offset_scale;
  g.remove_center = remove_center != 0;
  TORCH_CHECK(g.height_out > 0 && g.width_out > 0, "dcnv3: empty output for input ", input.sizes());
  const std::vector<int64_t> offset_shape{g.batch, g.height_out, g.width_out, group * g.points * 2};
  const std::vector<int64_t> mask_shape{g.batch, g.height_out, g.width_out, group * g.points};
  TORCH_CHECK(offset.sizes() == at::IntArrayRef(offset_shape), "dcnv3: offset must be ", offset_shape, ", got ", offset.sizes());
  TORCH_CHECK(mask.sizes() == at::IntArrayRef(mask_shape), "dcnv3: mask must be ", mask_shape, ", got ", mask.sizes());
  TORCH_CHECK(offset.scalar_type() == input.scalar_type() && mask.scalar_type() == input.scalar_type(),
              "dcnv3: input, offset and mask must share a dtype");
  TORCH_CHECK(offset.device() == input.device() && mask.device() == input.device(),
              "dcnv3: input, offset and mask must be on one device");
  return g;
}

namespace {

#define DCNV3_ARGS                                                                            \
  int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,      \
      int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t group,                   \
      int64_t group_channels, double offset_scale, int64_t remove_center
#define DCNV3_GEOMETRY(input, offset, mask)                                                   \
  make_geometry(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,    \
                dilation_h, dilation_w, group, group_channels, offset_scale, remove_center)

at::Tensor dense(const at::Tensor& t) { return t.contiguous(); }

// The device kernels, behind one signature: (input, offset, mask, geometry[, grad_output]).
#ifdef WITH_CUDA
at::Tensor forward_cuda_dense(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                              const Geometry& g) {
  return forward_cuda(input, dense(offset), dense(mask), g);
}
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda_dense(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
    const Geometry& g) {
  return backward_cuda(grad_output, input, dense(offset), dense(mask), g);
}
#endif

template <bool kSoftmaxMask>
at::Tensor forward_cpu_rows(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                            const Geometry& g) {
  return forward_cpu(input, pixel_rows(offset), pixel_rows(mask), g, kSoftmaxMask);
}
template <bool kSoftmaxMask>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu_rows(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
    const Geometry& g) {
  return backward_cpu(grad_output, input, pixel_rows(offset), pixel_rows(mask), g, kSoftmaxMask);
}

template <at::Tensor (*Kernel)(const at::Tensor&, const at::Tensor&, const at::Tensor&, const Geometry&)>
at::Tensor forward(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask, DCNV3_ARGS) {
  const Geometry g = DCNV3_GEOMETRY(input, offset, mask);
  return Kernel(input.contiguous(), offset, mask, g);
}

template <std::tuple<at::Tensor, at::Tensor, at::Tensor> (*Kernel)(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const Geometry&)>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_output, const at::Tensor& input,
                                                        const at::Tensor& offset, const at::Tensor& mask,
                                                        DCNV3_ARGS) {
  const Geometry g = DCNV3_GEOMETRY(input, offset, mask);
  TORCH_CHECK(grad_output.sizes() == at::IntArrayRef({g.batch, g.height_out, g.width_out, g.channels}),
              "dcnv3: grad_output has shape ", grad_output.sizes());
  return Kernel(grad_output.contiguous().to(input.scalar_type()), input.contiguous(), offset, mask, g);
}

}  // namespace
}  // namespace dcnv3

#define DCNV3_SCHEMA_ARGS                                                                \
  "int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, "        \
  "int dilation_h, int dilation_w, int group, int group_channels, float offset_scale, "   \
  "int remove_center"

// dcnv3_softmax_*: the same operator with ``mask_logits`` in place of ``mask``: each
// group's P weights are softmax(mask_logits) over the points, fused into the kernel's read
// of the mask (the published layer computes the softmax as a separate op). CPU only.
TORCH_LIBRARY(ops_dcnv3, m) {
  m.def("dcnv3_forward(Tensor input, Tensor offset, Tensor mask, " DCNV3_SCHEMA_ARGS ") -> Tensor");
  m.def("dcnv3_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor mask, " DCNV3_SCHEMA_ARGS
        ") -> (Tensor, Tensor, Tensor)");
  m.def("dcnv3_softmax_forward(Tensor input, Tensor offset, Tensor mask_logits, " DCNV3_SCHEMA_ARGS
        ") -> Tensor");
  m.def("dcnv3_softmax_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor mask_logits, "
        DCNV3_SCHEMA_ARGS ") -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ops_dcnv3, CPU, m) {
  m.impl("dcnv3_forward", &dcnv3::forward<dcnv3::forward_cpu_rows<false>>);
  m.impl("dcnv3_backward", &dcnv3::backward<dcnv3::backward_cpu_rows<false>>);
  m.impl("dcnv3_softmax_forward", &dcnv3::forward<dcnv3::forward_cpu_rows<true>>);
  m.impl("dcnv3_softmax_backward", &dcnv3::backward<dcnv3::backward_cpu_rows<true>>);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(ops_dcnv3, CUDA, m) {
  m.impl("dcnv3_forward", &dcnv3::forward<dcnv3::forward_cuda_dense>);
  m.impl("dcnv3_backward", &dcnv3::backward<dcnv3::backward_cuda_dense>);
}
#endif

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Compiled DCNv3 kernels; the operators live in torch.ops.ops_dcnv3.";
  m.def("compiled_backends", [] {
    std::vector<std::string> devices{"cpu"};
#ifdef WITH_CUDA
    devices.push_back("cuda");
#endif
    return devices;
  });
}
