// Autograd of the DCNv3 operators, registered in C++ for the Autograd dispatch key.
//
// A Python registration (torch.library.register_autograd) costs about 0.1 ms per
// forward+backward in interpreter overhead, as much as the kernels themselves take at
// the small stage shapes; here the cost is a few microseconds. Both directions call the
// operators through the dispatcher, so torch.compile traces them with their fake kernels.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace dcnv3 {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using ForwardSignature = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double,
                                    int64_t);
using BackwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t);

// The forward operators take 3 tensors and 12 scalars; backward returns a gradient slot per argument.
constexpr int kForwardArguments = 15;

// A forward operator and the operator computing its gradients.
struct PlainMask {
  static constexpr const char* forward = "ops_dcnv3::dcnv3_forward";
  static constexpr const char* backward = "ops_dcnv3::dcnv3_backward";
};
struct SoftmaxMask {
  static constexpr const char* forward = "ops_dcnv3::dcnv3_softmax_forward";
  static constexpr const char* backward = "ops_dcnv3::dcnv3_softmax_backward";
};

template <typename Ops>
class DCNv3Autograd : public torch::autograd::Function<DCNv3Autograd<Ops>> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& offset,
                            const at::Tensor& mask, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                            int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                            int64_t group, int64_t group_channels, double offset_scale, int64_t remove_center) {
    static const auto op =
        c10::Dispatcher::singleton().findSchemaOrThrow(Ops::forward, "").template typed<ForwardSignature>();
    ctx->save_for_backward({input, offset, mask});
    ctx->saved_data["ints"] = std::vector<int64_t>{kernel_h, kernel_w, stride_h,   stride_w, pad_h,
                                                   pad_w,    dilation_h, dilation_w, group, group_channels,
                                                   remove_center};
    ctx->saved_data["offset_scale"] = offset_scale;
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,
                   dilation_w, group, group_channels, offset_scale, remove_center);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op =
        c10::Dispatcher::singleton().findSchemaOrThrow(Ops::backward, "").template typed<BackwardSignature>();
    const auto saved = ctx->get_saved_variables();
    const std::vector<int64_t> p = ctx->saved_data["ints"].toIntVector();
    const double offset_scale = ctx->saved_data["offset_scale"].toDouble();
    variable_list grads(kForwardArguments);  // undefined (none) for the scalars
    if (!grad_outputs[0].defined()) return grads;
    auto [grad_input, grad_offset, grad_mask] =
        op.call(grad_outputs[0], saved[0], saved[1], saved[2], p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8],
                p[9], offset_scale, p[10]);
    grads[0] = grad_input;
    grads[1] = grad_offset;
    grads[2] = grad_mask;
    return grads;
  }
};

template <typename Ops>
at::Tensor forward_with_autograd(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                                 int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                 int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t group,
                                 int64_t group_channels, double offset_scale, int64_t remove_center) {
  return DCNv3Autograd<Ops>::apply(input, offset, mask, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                   dilation_h, dilation_w, group, group_channels, offset_scale, remove_center);
}

}  // namespace
}  // namespace dcnv3

TORCH_LIBRARY_IMPL(ops_dcnv3, Autograd, m) {
  m.impl("dcnv3_forward", &dcnv3::forward_with_autograd<dcnv3::PlainMask>);
  m.impl("dcnv3_softmax_forward", &dcnv3::forward_with_autograd<dcnv3::SoftmaxMask>);
}
