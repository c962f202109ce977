"""FLOPs and parameters of a config's model, with the DCNv3 / DCNv4 core counted.

    python tools/analysis_tools/get_flops.py configs/imagenet/internimage_t_1k_224.py --shape 224 224
    python tools/analysis_tools/get_flops.py configs/coco/mask_rcnn_internimage_t_fpn_1x_coco.py --shape 800 1280

FLOPs are multiply-accumulates (the convention of the published tables), counted by
mmengine's FlopAnalyzer on one input of the given size. The DCNv3 kernels run on
the CPU here, so no GPU is needed.
"""
import argparse

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings


class TensorForward(torch.nn.Module):
    """model(inputs, mode='tensor') as a plain forward, with the data samples a detector needs."""

    def __init__(self, model, scope, shape):
        super().__init__()
        self.model = model
        self.samples = None
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            meta = dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                        scale_factor=(1.0, 1.0))
            self.samples = [DetDataSample(metainfo=meta)]

    def forward(self, inputs):
        return self.model(inputs, self.samples, mode='tensor')


def count(config_path, shape, cfg_options=None):
    """Returns (flops of the whole model, flops of the backbone, parameters, backbone parameters)."""
    from internimage.analysis.flops import flop_analyzer
    cfg = Config.fromfile(config_path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmengine')
    init_default_scope(scope)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model).eval()
    inputs = torch.randn(1, 3, *shape)
    with torch.no_grad():
        flops = flop_analyzer(TensorForward(model, scope, tuple(shape)), (inputs, )).total()
        backbone_flops = flop_analyzer(model.backbone, (inputs, )).total()
    params = sum(p.numel() for p in model.parameters())
    backbone_params = sum(p.numel() for p in model.backbone.parameters())
    return flops, backbone_flops, params, backbone_params


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224], help='input height [width]')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args()
    shape = args.shape * 2 if len(args.shape) == 1 else args.shape[:2]
    flops, backbone_flops, params, backbone_params = count(args.config, shape, args.cfg_options)
    print(f'config: {args.config}\ninput: 1x3x{shape[0]}x{shape[1]}\n'
          f'FLOPs: {flops / 1e9:.2f} G (backbone {backbone_flops / 1e9:.2f} G)\n'
          f'parameters: {params / 1e6:.2f} M (backbone {backbone_params / 1e6:.2f} M)')


if __name__ == '__main__':
    main()
