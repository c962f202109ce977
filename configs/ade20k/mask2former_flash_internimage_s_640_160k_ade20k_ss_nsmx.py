# Mask2Former with FlashInternImage-S, ADE20K 640x640, 160k iterations, the pixel decoder's deformable attention
# weights used raw (not softmaxed: the published CustomMultiScaleDeformableAttention with use_softmax=False);
# no result published, 71.55M parameters (the layout of the S config). Otherwise as
# ./mask2former_flash_internimage_s_640_160k_ade20k_ss.py.
_base_ = ['./mask2former_flash_internimage_s_640_160k_ade20k_ss.py']

model = dict(decode_head=dict(pixel_decoder=dict(encoder=dict(layer_cfg=dict(self_attn_cfg=dict(use_softmax=False))))))
