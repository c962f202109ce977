# FlashInternImage-L, ImageNet-22K pre-trained, fine-tuned on ImageNet-1K at 384x384: top-1 88.1 published,
# 223M parameters. InternImage-L's fine-tuning recipe (./internimage_l_22kto1k_384.py: 20 epochs, lr 2e-5,
# layer-wise decay 0.9, offsets' lr x0.1, label smoothing 0.3, no mixup / cutmix, EMA, gradient
# checkpointing) with the DCNv4 backbone (3x3 depthwise convolution feeding the offsets, DCN output and
# MLP fc2 biases).
_base_ = ['./internimage_l_22kto1k_384.py']

model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=160, depths=[5, 5, 22, 5],
        groups=[10, 20, 40, 80], mlp_ratio=4.0, offset_scale=2.0, post_norm=True, layer_scale=1e-5,
        dw_kernel_size=3, dcn_output_bias=True, mlp_fc2_bias=True, drop_path_rate=0.1, with_cp=True,
        out_indices=(3, )))
