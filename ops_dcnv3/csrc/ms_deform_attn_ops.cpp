// Registers the multi-scale deformable attention operator (ms_deform_attn.h) with the
// dispatcher: schemas, argument checks, the CPU kernel, and the CUDA kernel when built with
// CUDA. Autograd is in ms_deform_attn_autograd.cpp; fake kernel and autocast in
// ops_dcnv3/_extension.py. The library itself is defined in dcnv3_ops.cpp (this is a fragment).
#include <torch/library.h>

#include "ms_deform_attn.h"

namespace dcnv3 {

namespace {

constexpr const char* kOp = "ms_deform_attn";

// Shapes, dtypes and devices of one call; returns its geometry.
MsdaGeometry msda_geometry(const at::Tensor& value, const at::Tensor& spatial_shapes,
                           const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                           const at::Tensor& attention_weights) {
  TORCH_CHECK(value.dim() == 4, kOp, ": value must be (N, keys, heads, channels), got ", value.sizes());
  TORCH_CHECK(sampling_locations.dim() == 6 && sampling_locations.size(5) == 2, kOp,
              ": sampling_locations must be (N, queries, heads, levels, points, 2), got ", sampling_locations.sizes());
  MsdaGeometry g;
  g.batch = value.size(0);
  g.keys = value.size(1);
  g.heads = value.size(2);
  g.channels = value.size(3);
  g.queries = sampling_locations.size(1);
  g.levels = sampling_locations.size(3);
  g.points = sampling_locations.size(4);
  const std::vector<int64_t> locations{g.batch, g.queries, g.heads, g.levels, g.points, 2};
  TORCH_CHECK(sampling_locations.sizes() == at::IntArrayRef(locations), kOp, ": sampling_locations must be ",
              locations, " (N, queries, heads, levels, points, 2) for value ", value.sizes(), ", got ",
              sampling_locations.sizes());
  const std::vector<int64_t> weights{g.batch, g.queries, g.heads, g.levels, g.points};
  TORCH_CHECK(attention_weights.sizes() == at::IntArrayRef(weights), kOp, ": attention_weights must be ", weights,
              " (N, queries, heads, levels, points), got ", attention_weights.sizes());
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(0) == g.levels && spatial_shapes.size(1) == 2, kOp,
              ": spatial_shapes must be (", g.levels, ", 2), got ", spatial_shapes.sizes());
  TORCH_CHECK(level_start_index.dim() == 1 && level_start_index.size(0) == g.levels, kOp,
              ": level_start_index must be (", g.levels, ",), got ", level_start_index.sizes());
  TORCH_CHECK(!at::isFloatingType(spatial_shapes.scalar_type()) && !at::isFloatingType(level_start_index.scalar_type()),
              kOp, ": spatial_shapes and level_start_index must be integer tensors");
  for (const at::Tensor* t : {&sampling_locations, &attention_weights}) {
    TORCH_CHECK(t->scalar_type() == value.scalar_type(), kOp,
                ": sampling_locations and attention_weights must have value's dtype ", value.scalar_type(), ", got ",
                t->scalar_type());
  }
  for (const at::Tensor* t : {&spatial_shapes, &level_start_index, &sampling_locations, &attention_weights}) {
    TORCH_CHECK(t->device() == value.device(), kOp, ": all tensors must be on value's device ", value.device(),
                ", got ", t->device());
  }
  return g;
}

void check_grad_output(const at::Tensor& grad_output, const MsdaGeometry& g) {
  TORCH_CHECK(grad_output.sizes() == at::IntArrayRef({g.batch, g.queries, g.heads * g.channels}), kOp,
              ": grad_output must be (", g.batch, ", ", g.queries, ", ", g.heads * g.channels, "), got ",
              grad_output.sizes());
}

// The level table checked against value (msda_levels, and the levels hold exactly value's keys):
// kernels index value with it unchecked, on every device.
MsdaLevels checked_levels(const at::Tensor& shapes, const at::Tensor& starts, const MsdaGeometry& g) {
  MsdaLevels levels = msda_levels(shapes, starts);
  const int64_t keys = levels.start.empty() ? 0 : levels.start.back() + levels.height.back() * levels.width.back();
  TORCH_CHECK(keys == g.keys, kOp, ": the levels hold ", keys, " keys, value has ", g.keys);
  return levels;
}

// The device kernels behind one interface (the CPU kernels take the level table on the host; the
// CUDA kernels read it from the device, after the same check on a host copy).
struct CpuKernels {
  static at::Tensor forward(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                            const at::Tensor& locations, const at::Tensor& weights, const MsdaGeometry& g) {
    return ms_deform_attn_forward_cpu(value, checked_levels(shapes, starts, g), locations, weights, g);
  }
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_output,
                                                                 const at::Tensor& value, const at::Tensor& shapes,
                                                                 const at::Tensor& starts, const at::Tensor& locations,
                                                                 const at::Tensor& weights, const MsdaGeometry& g) {
    return ms_deform_attn_backward_cpu(grad_output, value, checked_levels(shapes, starts, g), locations, weights, g);
  }
};

#ifdef WITH_CUDA
struct CudaKernels {
  static at::Tensor forward(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                            const at::Tensor& locations, const at::Tensor& weights, const MsdaGeometry& g) {
    checked_levels(shapes, starts, g);  // a copy of 3 x levels integers to the host
    return ms_deform_attn_forward_cuda(value, shapes.to(at::kLong).contiguous(), starts.to(at::kLong).contiguous(),
                                       locations, weights, g);
  }
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_output,
                                                                 const at::Tensor& value, const at::Tensor& shapes,
                                                                 const at::Tensor& starts, const at::Tensor& locations,
                                                                 const at::Tensor& weights, const MsdaGeometry& g) {
    checked_levels(shapes, starts, g);
    return ms_deform_attn_backward_cuda(grad_output, value, shapes.to(at::kLong).contiguous(),
                                        starts.to(at::kLong).contiguous(), locations, weights, g);
  }
};
#endif

template <typename Kernels>
at::Tensor msda_forward(const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
                        const at::Tensor& sampling_locations, const at::Tensor& attention_weights) {
  const MsdaGeometry g =
      msda_geometry(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  return Kernels::forward(value.contiguous(), spatial_shapes, level_start_index, sampling_locations.contiguous(),
                          attention_weights.contiguous(), g);
}

template <typename Kernels>
std::tuple<at::Tensor, at::Tensor, at::Tensor> msda_backward(const at::Tensor& grad_output, const at::Tensor& value,
                                                             const at::Tensor& spatial_shapes,
                                                             const at::Tensor& level_start_index,
                                                             const at::Tensor& sampling_locations,
                                                             const at::Tensor& attention_weights) {
  const MsdaGeometry g =
      msda_geometry(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  check_grad_output(grad_output, g);
  return Kernels::backward(grad_output.contiguous().to(value.scalar_type()), value.contiguous(), spatial_shapes,
                           level_start_index, sampling_locations.contiguous(), attention_weights.contiguous(), g);
}

}  // namespace

// The levels must tile value's keys in order, as mmcv's reference (which splits value by
// the shapes and ignores level_start_index) reads them: start[l] is the sum of the sizes
// before l. Anything else would read outside value.
MsdaLevels msda_levels(const at::Tensor& spatial_shapes, const at::Tensor& level_start_index) {
  const at::Tensor shapes = spatial_shapes.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor starts = level_start_index.to(at::kCPU, at::kLong).contiguous();
  const int64_t* s = shapes.const_data_ptr<int64_t>();
  const int64_t* st = starts.const_data_ptr<int64_t>();
  MsdaLevels levels;
  int64_t next = 0;
  for (int64_t l = 0; l < shapes.size(0); ++l) {
    TORCH_CHECK(s[2 * l] >= 0 && s[2 * l + 1] >= 0, kOp, ": spatial_shapes[", l, "] = (", s[2 * l], ", ",
                s[2 * l + 1], ") must be non-negative");
    TORCH_CHECK(st[l] == next, kOp, ": level_start_index[", l, "] must be ", next,
                " (the sizes of the levels before it), got ", st[l]);
    levels.height.push_back(s[2 * l]);
    levels.width.push_back(s[2 * l + 1]);
    levels.start.push_back(st[l]);
    next += s[2 * l] * s[2 * l + 1];
  }
  return levels;
}

}  // namespace dcnv3

TORCH_LIBRARY_FRAGMENT(ops_dcnv3, m) {
  m.def("ms_deform_attn_forward(Tensor value, Tensor spatial_shapes, Tensor level_start_index, "
        "Tensor sampling_locations, Tensor attention_weights) -> Tensor");
  m.def("ms_deform_attn_backward(Tensor grad_output, Tensor value, Tensor spatial_shapes, "
        "Tensor level_start_index, Tensor sampling_locations, Tensor attention_weights) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ops_dcnv3, CPU, m) {
  m.impl("ms_deform_attn_forward", &dcnv3::msda_forward<dcnv3::CpuKernels>);
  m.impl("ms_deform_attn_backward", &dcnv3::msda_backward<dcnv3::CpuKernels>);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(ops_dcnv3, CUDA, m) {
  m.impl("ms_deform_attn_forward", &dcnv3::msda_forward<dcnv3::CudaKernels>);
  m.impl("ms_deform_attn_backward", &dcnv3::msda_backward<dcnv3::CudaKernels>);
}
#endif
