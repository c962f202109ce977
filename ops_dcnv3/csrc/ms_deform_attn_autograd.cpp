// Autograd of the multi-scale deformable attention operator, in C++ for the same reason as
// DCNv3's (dcnv3_autograd.cpp): no interpreter overhead per call, and both directions go
// through the dispatcher, so torch.compile traces them with their fake kernels.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace dcnv3 {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class MsDeformAttnAutograd : public torch::autograd::Function<MsDeformAttnAutograd> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& value, const at::Tensor& spatial_shapes,
                            const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                            const at::Tensor& attention_weights) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("ops_dcnv3::ms_deform_attn_forward", "")
                               .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                 const at::Tensor&, const at::Tensor&)>();
    ctx->save_for_backward({value, spatial_shapes, level_start_index, sampling_locations, attention_weights});
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    variable_list grads(5);  // none for the shapes and start indices
    if (!grad_outputs[0].defined()) return grads;
    static const auto op =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("ops_dcnv3::ms_deform_attn_backward", "")
            .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                  const at::Tensor&, const at::Tensor&,
                                                                  const at::Tensor&, const at::Tensor&)>();
    const auto s = ctx->get_saved_variables();
    auto [grad_value, grad_locations, grad_weights] = op.call(grad_outputs[0], s[0], s[1], s[2], s[3], s[4]);
    grads[0] = grad_value;
    grads[3] = grad_locations;
    grads[4] = grad_weights;
    return grads;
  }
};

at::Tensor forward_with_autograd(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                 const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                                 const at::Tensor& attention_weights) {
  return MsDeformAttnAutograd::apply(value, spatial_shapes, level_start_index, sampling_locations,
                                     attention_weights);
}

}  // namespace
}  // namespace dcnv3

TORCH_LIBRARY_IMPL(ops_dcnv3, Autograd, m) { m.impl("ms_deform_attn_forward", &dcnv3::forward_with_autograd); }
