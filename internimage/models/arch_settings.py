"""Hyper-parameters of the published InternImage variants (tests/data/published/MODELS.md).

``ARCH_SETTINGS[name]`` holds the backbone arguments that define a variant; task
configs add their own (drop_path_rate, out_indices, with_cp, init_cfg, ...).
The detection/segmentation configs use ``layer_scale=1.0`` where classification
used 1e-5, as published.

``with_arch`` gives a backbone the ``arch=`` shorthand (mmpretrain's convention) over these tables.
"""
import copy
import functools
import inspect

ARCH_SETTINGS = {
    't': dict(channels=64, depths=[4, 4, 18, 4], groups=[4, 8, 16, 32], offset_scale=1.0, post_norm=False,
              layer_scale=None),
    's': dict(channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], offset_scale=1.0, post_norm=True,
              layer_scale=1e-5),
    'b': dict(channels=112, depths=[4, 4, 21, 4], groups=[7, 14, 28, 56], offset_scale=1.0, post_norm=True,
              layer_scale=1e-5),
    'l': dict(channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], offset_scale=2.0, post_norm=True,
              layer_scale=1e-5),
    'xl': dict(channels=192, depths=[5, 5, 24, 5], groups=[12, 24, 48, 96], offset_scale=2.0, post_norm=True,
               layer_scale=1e-5),
    'h': dict(channels=320, depths=[6, 6, 32, 6], groups=[10, 20, 40, 80], offset_scale=1.0, post_norm=False,
              layer_scale=None, dw_kernel_size=5, res_post_norm=True, level2_post_norm=True,
              level2_post_norm_block_ids=[5, 11, 17, 23, 29], center_feature_scale=True),
    'g': dict(channels=512, depths=[2, 2, 48, 4], groups=[16, 32, 64, 128], offset_scale=1.0, post_norm=True,
              layer_scale=None, dw_kernel_size=5, level2_post_norm=True,
              level2_post_norm_block_ids=list(range(5, 48, 6)), center_feature_scale=True),
}

# Variants whose classifier uses the clip-projector head instead of conv + pool + linear.
CLIP_HEAD_VARIANTS = ('h', 'g')


# FlashInternImage (DCNv4; tests/data/published/published_configs/flash): the ``FlashInternImage`` arguments of
# each size. Classification uses these layer_scale values; every detection / segmentation config sets
# layer_scale=1.0 (T included).
FLASH_ARCH_SETTINGS = {
    't': dict(core_op='DCNv4', channels=64, depths=[4, 4, 18, 4], groups=[4, 8, 16, 32], offset_scale=1.0,
              post_norm=False, layer_scale=None, dw_kernel_size=None),
    's': dict(core_op='DCNv4', channels=80, depths=[4, 4, 21, 4], groups=[5, 10, 20, 40], offset_scale=1.0,
              post_norm=True, layer_scale=1e-5, dw_kernel_size=3),
    'b': dict(core_op='DCNv4', channels=112, depths=[4, 4, 21, 4], groups=[7, 14, 28, 56], offset_scale=0.5,
              post_norm=True, layer_scale=1e-5, dw_kernel_size=3),
    'l': dict(core_op='DCNv4', channels=160, depths=[5, 5, 22, 5], groups=[10, 20, 40, 80], offset_scale=2.0,
              post_norm=True, layer_scale=1e-5, dw_kernel_size=3, dcn_output_bias=True, mlp_fc2_bias=True),
}


def with_arch(settings):
    """Decorator of a backbone's ``__init__``: adds the keyword ``arch``, a size of ``settings`` ('t', 's', ...)
    whose arguments fill in every argument not given. An argument given explicitly wins over the size's
    value, as a config's own keys win over its base's: ``arch='l', layer_scale=1.0`` is InternImage-L with
    the detection configs' layer scale. An unknown size raises ValueError naming the sizes."""
    def decorate(init):
        signature = inspect.signature(init)

        @functools.wraps(init)
        def init_with_arch(self, *args, arch=None, **kwargs):
            if arch is None:
                return init(self, *args, **kwargs)
            if arch not in settings:
                raise ValueError(f'{type(self).__name__}: arch must be one of {list(settings)}, got {arch!r}')
            positional = dict(list(signature.bind_partial(self, *args).arguments.items())[1:])
            return init(self, **{**copy.deepcopy(settings[arch]), **positional, **kwargs})

        parameters = list(signature.parameters.values())
        at = len(parameters) - (parameters[-1].kind is inspect.Parameter.VAR_KEYWORD)
        parameters.insert(at, inspect.Parameter('arch', inspect.Parameter.KEYWORD_ONLY, default=None))
        init_with_arch.__signature__ = signature.replace(parameters=parameters)
        return init_with_arch
    return decorate
