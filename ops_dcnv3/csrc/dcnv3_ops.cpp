// Registers the DCNv3 and DCNv4 operators with the PyTorch dispatcher (torch.library):
// their schemas, CPU kernels here, CUDA kernels when built with CUDA. Autograd is registered
// in dcnv3_autograd.cpp; the fake (meta) implementation and autocast from Python
// (ops_dcnv3/_extension.py), on top of these schemas.
//
// DCNv4 is DCNv3 with the offsets and the (raw, not softmaxed) mask in one tensor
// offset_mask (N, H_out, W_out, K_pad): group g's 2P offsets then its P mask values from
// g * 3P, K_pad = 3GP rounded up to a multiple of 8, the tail ignored. Both run the same
// kernels, which read offsets and mask through a PointLayout.
#include <torch/library.h>
#include <torch/extension.h>

#include "dcnv3.h"
#include "ms_deform_attn.h"

namespace dcnv3 {

Geometry make_geometry(const char* op, const at::Tensor& input, int64_t kernel_h, int64_t kernel_w,
                       int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                       int64_t dilation_w, int64_t group, int64_t group_channels, double offset_scale,
                       int64_t remove_center) {
  TORCH_CHECK(input.dim() == 4, op, ": input must be (N, H, W, C), got ", input.sizes());
  TORCH_CHECK(kernel_h > 0 && kernel_w > 0 && stride_h > 0 && stride_w > 0 && dilation_h > 0 &&
                  dilation_w > 0 && pad_h >= 0 && pad_w >= 0,
              op, ": kernel, stride and dilation must be positive, padding non-negative");
  TORCH_CHECK(group > 0 && group_channels > 0 && group * group_channels == input.size(3), op, ": channels ",
              input.size(3), " != group ", group, " x group_channels ", group_channels);
  TORCH_CHECK(remove_center == 0 || (kernel_h % 2 == 1 && kernel_w % 2 == 1),
              op, ": remove_center needs an odd kernel, got ", kernel_h, "x", kernel_w);
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
  TORCH_CHECK(g.height_out > 0 && g.width_out > 0, op, ": empty output for input ", input.sizes());
  return g;
}

namespace {

// K_pad of DCNv4: 3 values per point and group, rounded up to a multiple of 8.
int64_t padded_points(const Geometry& g) { return (3 * g.group * g.points + 7) / 8 * 8; }

// One offset / mask tensor: its shape (N, H_out, W_out, channels), dtype and device.
void check_points(const char* op, const char* name, const at::Tensor& t, int64_t channels, const char* meaning,
                  const at::Tensor& input, const Geometry& g) {
  const std::vector<int64_t> shape{g.batch, g.height_out, g.width_out, channels};
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), op, ": ", name, " must be ", shape, " (N, H_out, W_out, ", meaning,
              "), got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == input.scalar_type(), op, ": ", name, " must have the input's dtype ",
              input.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == input.device(), op, ": ", name, " must be on the input's device ", input.device(),
              ", got ", t.device());
}

void check_grad_output(const char* op, const at::Tensor& grad_output, const Geometry& g) {
  TORCH_CHECK(grad_output.sizes() == at::IntArrayRef({g.batch, g.height_out, g.width_out, g.channels}),
              op, ": grad_output must be (", g.batch, ", ", g.height_out, ", ", g.width_out, ", ", g.channels,
              "), got ", grad_output.sizes());
}

int64_t row_stride(const at::Tensor& rows) { return rows.size(3) == 0 ? 0 : rows.stride(2); }

PointTensors separate_points(const at::Tensor& offset, const at::Tensor& mask, const Geometry& g) {
  at::Tensor offset_rows = pixel_rows(offset), mask_rows = pixel_rows(mask);
  const PointLayout layout = separate_layout(g, row_stride(offset_rows), row_stride(mask_rows));
  return {offset_rows, mask_rows, 0, layout};
}

PointTensors fused_points(const at::Tensor& offset_mask, const Geometry& g) {
  at::Tensor rows = pixel_rows(offset_mask);
  return {rows, rows, 2 * g.points, fused_layout(g, row_stride(rows))};
}

#define DCN_ARGS                                                                              \
  int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,      \
      int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t group,                   \
      int64_t group_channels, double offset_scale, int64_t remove_center
#define DCN_GEOMETRY(op, input)                                                               \
  make_geometry(op, input, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,  \
                dilation_w, group, group_channels, offset_scale, remove_center)

Geometry dcnv3_geometry(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask, DCN_ARGS) {
  const Geometry g = DCN_GEOMETRY("dcnv3", input);
  check_points("dcnv3", "offset", offset, 2 * g.group * g.points, "group x points x 2", input, g);
  check_points("dcnv3", "mask", mask, g.group * g.points, "group x points", input, g);
  return g;
}

Geometry dcnv4_geometry(const at::Tensor& value, const at::Tensor& offset_mask, DCN_ARGS) {
  const Geometry g = DCN_GEOMETRY("dcnv4", value);
  TORCH_CHECK(g.points > 0, "dcnv4: remove_center leaves no sampling point in a ", kernel_h, "x", kernel_w,
              " kernel");
  check_points("dcnv4", "offset_mask", offset_mask, padded_points(g),
               "K_pad = 3 x group x points rounded up to a multiple of 8", value, g);
  return g;
}

// The device kernels behind one interface.
struct CpuKernels {
  static at::Tensor forward(const at::Tensor& input, const PointTensors& p, const Geometry& g, bool softmax) {
    return forward_cpu(input, p, g, softmax);
  }
  static at::Tensor backward(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& p,
                             const PointTensors& grads, const Geometry& g, bool softmax) {
    return backward_cpu(grad_output, input, p, grads, g, softmax);
  }
};

#ifdef WITH_CUDA
struct CudaKernels {  // the softmax variants have no CUDA kernel (not registered there)
  static at::Tensor forward(const at::Tensor& input, const PointTensors& p, const Geometry& g, bool) {
    return forward_cuda(input, p, g);
  }
  static at::Tensor backward(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& p,
                             const PointTensors& grads, const Geometry& g, bool) {
    return backward_cuda(grad_output, input, p, grads, g);
  }
};
#endif

template <typename Kernels>
at::Tensor run_backward(const char* op, const at::Tensor& grad_output, const at::Tensor& input,
                        const PointTensors& points, const PointTensors& grads, const Geometry& g, bool softmax) {
  check_grad_output(op, grad_output, g);
  return Kernels::backward(grad_output.contiguous().to(input.scalar_type()), input.contiguous(), points, grads, g,
                           softmax);
}

template <typename Kernels, bool kSoftmaxMask>
at::Tensor dcnv3_forward(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask, DCN_ARGS) {
  const Geometry g = dcnv3_geometry(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                    dilation_h, dilation_w, group, group_channels, offset_scale, remove_center);
  return Kernels::forward(input.contiguous(), separate_points(offset, mask, g), g, kSoftmaxMask);
}

template <typename Kernels, bool kSoftmaxMask>
std::tuple<at::Tensor, at::Tensor, at::Tensor> dcnv3_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                                              const at::Tensor& offset, const at::Tensor& mask,
                                                              DCN_ARGS) {
  const Geometry g = dcnv3_geometry(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                    dilation_h, dilation_w, group, group_channels, offset_scale, remove_center);
  const PointTensors grads = separate_points(at::empty(offset.sizes(), offset.options()),
                                             at::empty(mask.sizes(), mask.options()), g);
  at::Tensor grad_input = run_backward<Kernels>("dcnv3", grad_output, input, separate_points(offset, mask, g), grads,
                                                g, kSoftmaxMask);
  return {grad_input, grads.offset, grads.mask};
}

template <typename Kernels>
at::Tensor dcnv4_forward(const at::Tensor& value, const at::Tensor& offset_mask, DCN_ARGS) {
  const Geometry g = dcnv4_geometry(value, offset_mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                    dilation_h, dilation_w, group, group_channels, offset_scale, remove_center);
  return Kernels::forward(value.contiguous(), fused_points(offset_mask, g), g, false);
}

template <typename Kernels>
std::tuple<at::Tensor, at::Tensor> dcnv4_backward(const at::Tensor& grad_output, const at::Tensor& value,
                                                  const at::Tensor& offset_mask, DCN_ARGS) {
  const Geometry g = dcnv4_geometry(value, offset_mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                    dilation_h, dilation_w, group, group_channels, offset_scale, remove_center);
  at::Tensor grad_offset_mask = at::empty(offset_mask.sizes(), offset_mask.options());
  const int64_t used = 3 * g.group * g.points;
  grad_offset_mask.narrow(3, used, grad_offset_mask.size(3) - used).zero_();  // the ignored tail
  at::Tensor grad_value = run_backward<Kernels>("dcnv4", grad_output, value, fused_points(offset_mask, g),
                                                fused_points(grad_offset_mask, g), g, false);
  return {grad_value, grad_offset_mask};
}

bool has_pixel_rows(const at::Tensor& t) {
  return t.dim() == 4 && t.stride(3) == 1 && t.stride(2) >= t.size(3) && t.stride(1) == t.size(2) * t.stride(2) &&
         t.stride(0) == t.size(1) * t.stride(1);
}

}  // namespace

at::Tensor pixel_rows(const at::Tensor& t) { return has_pixel_rows(t) ? t : t.contiguous(); }

}  // namespace dcnv3

#define DCN_SCHEMA_ARGS                                                                  \
  "int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, "        \
  "int dilation_h, int dilation_w, int group, int group_channels, float offset_scale, "   \
  "int remove_center"

// dcnv3_softmax_*: the same operator with ``mask_logits`` in place of ``mask``: each
// group's P weights are softmax(mask_logits) over the points, fused into the kernel's read
// of the mask (the published layer computes the softmax as a separate op). CPU only.
// dcnv4_*: ``value`` sampled with ``offset_mask`` (see the top of this file), the raw mask.
TORCH_LIBRARY(ops_dcnv3, m) {
  m.def("dcnv3_forward(Tensor input, Tensor offset, Tensor mask, " DCN_SCHEMA_ARGS ") -> Tensor");
  m.def("dcnv3_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor mask, " DCN_SCHEMA_ARGS
        ") -> (Tensor, Tensor, Tensor)");
  m.def("dcnv3_softmax_forward(Tensor input, Tensor offset, Tensor mask_logits, " DCN_SCHEMA_ARGS
        ") -> Tensor");
  m.def("dcnv3_softmax_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor mask_logits, "
        DCN_SCHEMA_ARGS ") -> (Tensor, Tensor, Tensor)");
  m.def("dcnv4_forward(Tensor value, Tensor offset_mask, " DCN_SCHEMA_ARGS ") -> Tensor");
  m.def("dcnv4_backward(Tensor grad_output, Tensor value, Tensor offset_mask, " DCN_SCHEMA_ARGS
        ") -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ops_dcnv3, CPU, m) {
  using dcnv3::CpuKernels;
  m.impl("dcnv3_forward", &dcnv3::dcnv3_forward<CpuKernels, false>);
  m.impl("dcnv3_backward", &dcnv3::dcnv3_backward<CpuKernels, false>);
  m.impl("dcnv3_softmax_forward", &dcnv3::dcnv3_forward<CpuKernels, true>);
  m.impl("dcnv3_softmax_backward", &dcnv3::dcnv3_backward<CpuKernels, true>);
  m.impl("dcnv4_forward", &dcnv3::dcnv4_forward<CpuKernels>);
  m.impl("dcnv4_backward", &dcnv3::dcnv4_backward<CpuKernels>);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(ops_dcnv3, CUDA, m) {
  using dcnv3::CudaKernels;
  m.impl("dcnv3_forward", &dcnv3::dcnv3_forward<CudaKernels, false>);
  m.impl("dcnv3_backward", &dcnv3::dcnv3_backward<CudaKernels, false>);
  m.impl("dcnv4_forward", &dcnv3::dcnv4_forward<CudaKernels>);
  m.impl("dcnv4_backward", &dcnv3::dcnv4_backward<CudaKernels>);
}
#endif

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Compiled DCNv3 and DCNv4 kernels; the operators live in torch.ops.ops_dcnv3.";
  m.def("compiled_backends", [] {
    std::vector<std::string> devices{"cpu"};
#ifdef WITH_CUDA
    devices.push_back("cuda");
#endif
    return devices;
  });
  // For tests: the CPU backward's query chunks per (image, head) pair at these shapes.
  m.def("ms_deform_attn_backward_chunks", [](int64_t batch, int64_t keys, int64_t heads, int64_t channels,
                                             int64_t queries, int64_t levels, int64_t points, int64_t threads) {
    return dcnv3::ms_deform_attn_backward_chunks({batch, keys, heads, channels, queries, levels, points}, threads);
  });
}
