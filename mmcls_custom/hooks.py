"""Lets mmengine's Runner (tools/test.py, load_from, resume) take the published classification
checkpoints, which keep their weights under ``model`` where mmengine expects ``state_dict``.
Hooks that read ``checkpoint['state_dict']`` (e.g. mmpretrain's EMAHook) then work too; the
key names themselves are mapped by ``InternImageClassifier`` when the weights are loaded."""
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class PublishedCheckpointHook(Hook):
    priority = 'VERY_HIGH'  # before any hook that reads the state dict

    def after_load_checkpoint(self, runner, checkpoint):
        if 'state_dict' not in checkpoint and isinstance(checkpoint.get('model'), dict):
            checkpoint['state_dict'] = checkpoint.pop('model')
