// Autograd of the DCNv3 and DCNv4 operators, registered in C++ for the Autograd dispatch key.
//
// A Python registration (torch.library.register_autograd) costs about 0.1 ms per
// forward+backward in interpreter overhead, as much as the kernels themselves take at
// the small stage shapes; here the cost is a few microseconds. Both directions call the
// operators through the dispatcher, so torch.compile traces them with their fake kernels.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <array>
#include <utility>

namespace dcnv3 {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The 12 scalar arguments every operator takes after its tensors.
struct Scalars {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group, group_channels;
  double offset_scale;
  int64_t remove_center;
};

template <size_t>
using TensorArg = const at::Tensor&;
template <size_t>
using TensorResult = at::Tensor;

// Schemas: (kTensors tensors, scalars) -> Tensor, and (grad_output, the same) -> kTensors gradients.
template <typename Indices>
struct Signatures;
template <size_t... I>
struct Signatures<std::index_sequence<I...>> {
  using Forward = at::Tensor(TensorArg<I>..., int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, double, int64_t);
  using Backward = std::tuple<TensorResult<I>...>(const at::Tensor&, TensorArg<I>..., int64_t, int64_t, int64_t,
                                                  int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                                  double, int64_t);
};

// A forward operator with kTensors tensor arguments, and the operator computing their gradients.
struct PlainMask {
  static constexpr const char* forward = "ops_dcnv3::dcnv3_forward";
  static constexpr const char* backward = "ops_dcnv3::dcnv3_backward";
  static constexpr size_t kTensors = 3;
};
struct SoftmaxMask {
  static constexpr const char* forward = "ops_dcnv3::dcnv3_softmax_forward";
  static constexpr const char* backward = "ops_dcnv3::dcnv3_softmax_backward";
  static constexpr size_t kTensors = 3;
};
struct OffsetMask {  // DCNv4
  static constexpr const char* forward = "ops_dcnv3::dcnv4_forward";
  static constexpr const char* backward = "ops_dcnv3::dcnv4_backward";
  static constexpr size_t kTensors = 2;
};

template <typename Ops>
class OpAutograd : public torch::autograd::Function<OpAutograd<Ops>> {
  using Indices = std::make_index_sequence<Ops::kTensors>;
  using Sig = Signatures<Indices>;

 public:
  // apply(scalars, tensors...): the scalars first, so the tensors can be a parameter pack.
  template <typename... Tensors>
  static at::Tensor forward(AutogradContext* ctx, const Scalars& s, const Tensors&... tensors) {
    static_assert(sizeof...(Tensors) == Ops::kTensors);
    static const auto op =
        c10::Dispatcher::singleton().findSchemaOrThrow(Ops::forward, "").template typed<typename Sig::Forward>();
    ctx->save_for_backward({tensors...});
    ctx->saved_data["ints"] = std::vector<int64_t>{s.kernel_h, s.kernel_w, s.stride_h,   s.stride_w,
                                                   s.pad_h,    s.pad_w,    s.dilation_h, s.dilation_w,
                                                   s.group,    s.group_channels, s.remove_center};
    ctx->saved_data["offset_scale"] = s.offset_scale;
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(tensors..., s.kernel_h, s.kernel_w, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
                   s.dilation_w, s.group, s.group_channels, s.offset_scale, s.remove_center);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads(1 + Ops::kTensors);  // undefined (none) for the scalars
    if (!grad_outputs[0].defined()) return grads;
    const auto saved = ctx->get_saved_variables();
    const std::vector<int64_t> p = ctx->saved_data["ints"].toIntVector();
    const double offset_scale = ctx->saved_data["offset_scale"].toDouble();
    const auto computed = call_backward(grad_outputs[0], saved, p, offset_scale, Indices{});
    store(grads, computed, Indices{});
    return grads;
  }

 private:
  template <size_t... I>
  static auto call_backward(const at::Tensor& grad_output, const variable_list& saved, const std::vector<int64_t>& p,
                            double offset_scale, std::index_sequence<I...>) {
    static const auto op =
        c10::Dispatcher::singleton().findSchemaOrThrow(Ops::backward, "").template typed<typename Sig::Backward>();
    return op.call(grad_output, saved[I]..., p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9],
                   offset_scale, p[10]);
  }

  template <typename Tuple, size_t... I>
  static void store(variable_list& grads, const Tuple& computed, std::index_sequence<I...>) {
    ((grads[1 + I] = std::get<I>(computed)), ...);
  }
};

template <typename Ops, typename Indices = std::make_index_sequence<Ops::kTensors>>
struct WithAutograd;
template <typename Ops, size_t... I>
struct WithAutograd<Ops, std::index_sequence<I...>> {
  static at::Tensor forward(TensorArg<I>... tensors, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                            int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                            int64_t group, int64_t group_channels, double offset_scale, int64_t remove_center) {
    const Scalars s{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
                    group, group_channels, offset_scale, remove_center};
    return OpAutograd<Ops>::apply(s, tensors...);
  }
};

}  // namespace
}  // namespace dcnv3

TORCH_LIBRARY_IMPL(ops_dcnv3, Autograd, m) {
  m.impl("dcnv3_forward", &dcnv3::WithAutograd<dcnv3::PlainMask>::forward);
  m.impl("dcnv3_softmax_forward", &dcnv3::WithAutograd<dcnv3::SoftmaxMask>::forward);
  m.impl("dcnv4_forward", &dcnv3::WithAutograd<dcnv3::OffsetMask>::forward);
}
