# FlashInternImage-T, ImageNet-1K, 224x224: top-1 83.6 published, 30M parameters.
# InternImage-T's recipe (./internimage_t_1k_224.py, the published yaml sets the same: drop path 0.1,
# lr 5e-4, EMA 0.9999) with the DCNv4 backbone (no layer scale, no depthwise branch).
_base_ = ['./internimage_t_1k_224.py']

model = dict(
    backbone=dict(
        _delete_=True, type='FlashInternImage', core_op='DCNv4', channels=64, depths=[4, 4, 18, 4],
        groups=[4, 8, 16, 32], mlp_ratio=4.0, offset_scale=1.0, post_norm=False, layer_scale=None,
        dw_kernel_size=None, dcn_output_bias=False, mlp_fc2_bias=False, drop_path_rate=0.1, out_indices=(3, )))
