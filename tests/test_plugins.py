"""The plugins register InternImage (and FlashInternImage) into each package, and configs reach it through
custom_imports."""
import importlib

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from internimage import FlashInternImage, InternImage
from internimage.engine.layer_decay import (ClassificationLayerDecayOptimizerConstructor,
                                     DetectionLayerDecayOptimizerConstructor,
                                     SegmentationLayerDecayOptimizerConstructor)

# (plugin, package scope, the layer-decay constructor with that task's published rules)
PLUGINS = [('mmdet_custom', 'mmdet', DetectionLayerDecayOptimizerConstructor),
           ('mmseg_custom', 'mmseg', SegmentationLayerDecayOptimizerConstructor),
           ('mmcls_custom', 'mmpretrain', ClassificationLayerDecayOptimizerConstructor)]
# A backbone dict as the published detection configs write it.
PUBLISHED_BACKBONE = dict(
    type='InternImage', core_op='DCNv3', channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], mlp_ratio=4.,
    drop_path_rate=0.2, norm_layer='LN', layer_scale=1.0, offset_scale=1.0, post_norm=False, with_cp=False,
    dw_kernel_size=None, level2_post_norm=False, level2_post_norm_block_ids=None, res_post_norm=False,
    center_feature_scale=False, remove_center=False, out_indices=(0, 1, 2, 3), frozen_stages=-1, init_cfg=None)


@pytest.mark.parametrize('plugin,scope,layer_decay', PLUGINS)
def test_registered_in_each_package(plugin, scope, layer_decay):
    importlib.import_module(plugin)
    registry = importlib.import_module(f'{scope}.registry')
    assert registry.MODELS.get('InternImage') is InternImage
    assert registry.MODELS.get('FlashInternImage') is FlashInternImage
    assert registry.OPTIM_WRAPPER_CONSTRUCTORS.get('CustomLayerDecayOptimizerConstructor') is layer_decay
    with DefaultScope.overwrite_default_scope(scope):
        backbone = registry.MODELS.build(PUBLISHED_BACKBONE)
    assert isinstance(backbone, InternImage)
    assert len(backbone(torch.randn(1, 3, 32, 32))) == 4


def test_config_reaches_plugin_through_custom_imports(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text("custom_imports = dict(imports=['mmseg_custom'], allow_failed_imports=False)\n"
                      "default_scope = 'mmseg'\n"
                      f"model = dict(backbone={PUBLISHED_BACKBONE!r})\n")
    cfg = Config.fromfile(str(config))  # Config.fromfile performs custom_imports
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert isinstance(MODELS.build(cfg.model.backbone), InternImage)


def test_unknown_core_op_is_named():
    with pytest.raises(ValueError, match="core_op must be one of .*'DCNv4_pytorch'.*got 'DCNv5'"):
        InternImage(core_op='DCNv5')
