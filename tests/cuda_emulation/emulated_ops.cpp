// The Python module of the CUDA emulation build: the op package's operator wrappers
// (csrc/dcnv3_ops.cpp, csrc/ms_deform_attn_ops.cpp) compiled with WITH_CUDA, their CUDA paths
// (argument checks, layouts, level-table checks, the host wrappers and kernels of csrc/cuda)
// callable on CPU tensors, and the emulator's controls.
//
// The wrapper files are included as they are, with their operator registrations turned into unused
// functions: the real extension already registers torch.ops.ops_dcnv3 in this process.
#include <torch/extension.h>
#include <torch/library.h>

#include <cuda_emulation.h>
#include <guarded_allocator.h>

#define EMU_CONCAT2(a, b) a##b
#define EMU_CONCAT(a, b) EMU_CONCAT2(a, b)
#define EMU_UNREGISTERED(m) [[maybe_unused]] static void EMU_CONCAT(emu_unregistered_, __COUNTER__)(torch::Library & m)

#pragma push_macro("TORCH_LIBRARY")
#pragma push_macro("TORCH_LIBRARY_FRAGMENT")
#pragma push_macro("TORCH_LIBRARY_IMPL")
#pragma push_macro("PYBIND11_MODULE")
#undef TORCH_LIBRARY
#undef TORCH_LIBRARY_FRAGMENT
#undef TORCH_LIBRARY_IMPL
#undef PYBIND11_MODULE
#define TORCH_LIBRARY(ns, m) EMU_UNREGISTERED(m)
#define TORCH_LIBRARY_FRAGMENT(ns, m) EMU_UNREGISTERED(m)
#define TORCH_LIBRARY_IMPL(ns, key, m) EMU_UNREGISTERED(m)
#define PYBIND11_MODULE(name, m) \
  [[maybe_unused]] static void EMU_CONCAT(emu_module_, __COUNTER__)(pybind11::module_ & m)

#include "dcnv3_ops.cpp"
// Both files name their kernel interfaces CpuKernels / CudaKernels (each in its own file's
// anonymous namespace); here they share one translation unit.
#define CpuKernels MsdaCpuKernels
#define CudaKernels MsdaCudaKernels
#include "ms_deform_attn_ops.cpp"
#undef CpuKernels
#undef CudaKernels

#pragma pop_macro("TORCH_LIBRARY")
#pragma pop_macro("TORCH_LIBRARY_FRAGMENT")
#pragma pop_macro("TORCH_LIBRARY_IMPL")
#pragma pop_macro("PYBIND11_MODULE")

namespace dcnv3 {

// The library holds two builds of csrc/cuda: the sources as they are (suffix _clean) and a copy with
// planted bugs that emu::mutation() switches on one at a time (suffix _mutant; see mutations.py).
#define EMU_BOTH_COPIES(declare) declare(clean) declare(mutant)
#define EMU_DECLARE(copy)                                                                                     \
  at::Tensor forward_cuda_##copy(const at::Tensor&, const PointTensors&, const Geometry&);                   \
  at::Tensor backward_cuda_##copy(const at::Tensor&, const at::Tensor&, const PointTensors&, const PointTensors&, \
                                  const Geometry&);                                                           \
  at::Tensor ms_deform_attn_forward_cuda_##copy(const at::Tensor&, const at::Tensor&, const at::Tensor&,     \
                                                const at::Tensor&, const at::Tensor&, const MsdaGeometry&);  \
  std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cuda_##copy(                        \
      const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,         \
      const at::Tensor&, const MsdaGeometry&);
EMU_BOTH_COPIES(EMU_DECLARE)

// The host wrappers the operator wrappers call: the clean copy, or the mutant one while a planted
// bug is switched on.
at::Tensor forward_cuda(const at::Tensor& input, const PointTensors& points, const Geometry& g) {
  return emu::mutation() ? forward_cuda_mutant(input, points, g) : forward_cuda_clean(input, points, g);
}
at::Tensor backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const PointTensors& points,
                         const PointTensors& grads, const Geometry& g) {
  return emu::mutation() ? backward_cuda_mutant(grad_output, input, points, grads, g)
                         : backward_cuda_clean(grad_output, input, points, grads, g);
}
at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                                       const at::Tensor& locations, const at::Tensor& weights,
                                       const MsdaGeometry& g) {
  return emu::mutation() ? ms_deform_attn_forward_cuda_mutant(value, shapes, starts, locations, weights, g)
                         : ms_deform_attn_forward_cuda_clean(value, shapes, starts, locations, weights, g);
}
std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
    const at::Tensor& locations, const at::Tensor& weights, const MsdaGeometry& g) {
  return emu::mutation()
             ? ms_deform_attn_backward_cuda_mutant(grad_output, value, shapes, starts, locations, weights, g)
             : ms_deform_attn_backward_cuda_clean(grad_output, value, shapes, starts, locations, weights, g);
}

}  // namespace dcnv3

// Small kernels that break the rules on purpose (selftest.cu).
void run_selftest(const std::string& name);
std::vector<std::string> selftest_names();

// Each call raises the error of a launch the host code did not check.
template <auto Op>
struct Checked;
template <typename R, typename... A, R (*Op)(A...)>
struct Checked<Op> {
  static R call(A... args) {
    R result = Op(args...);
    emu::check_last_launch();
    return result;
  }
};

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "The op package's CUDA kernels built for the CPU with the CUDA emulation (tests/cuda_emulation).";
  using namespace dcnv3;
  m.def("dcnv3_forward", &Checked<&dcnv3_forward<CudaKernels, false>>::call);
  m.def("dcnv3_backward", &Checked<&dcnv3_backward<CudaKernels, false>>::call);
  m.def("dcnv4_forward", &Checked<&dcnv4_forward<CudaKernels>>::call);
  m.def("dcnv4_backward", &Checked<&dcnv4_backward<CudaKernels>>::call);
  m.def("ms_deform_attn_forward", &Checked<&msda_forward<MsdaCudaKernels>>::call);
  m.def("ms_deform_attn_backward", &Checked<&msda_backward<MsdaCudaKernels>>::call);
  m.def("launches", [] { return emu::registry().launches; }, "Launches per kernel (with its template arguments).");
  m.def("reset_launches", [] { emu::registry().launches.clear(); });
  m.def(
      "set_schedule",
      [](bool reverse_threads, uint64_t block_shuffle_seed) {
        emu::registry().schedule = emu::Schedule{reverse_threads, block_shuffle_seed};
      },
      pybind11::arg("reverse_threads"), pybind11::arg("block_shuffle_seed"));
  m.def("set_mutation", [](int k) { emu::registry().mutation = k; }, "0: the kernels as written; k: planted bug k.");
  m.def(
      "guard_memory", [](int side) { emu::guarded_allocator().install(side); },
      "CPU tensors against an inaccessible page: 1 after their end, 2 before their start, 0 off (see "
      "guarded_allocator.h).");
  m.def("selftest", &run_selftest, "Runs one rule-breaking kernel (its error is raised).");
  m.def("selftest_names", &selftest_names);
}
