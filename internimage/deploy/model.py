"""The model to export: a config (and checkpoint) built as mmengine's Runner builds it, in eval mode on
the CPU, with its task and class names."""
import copy

TASKS = {'mmpretrain': 'classification', 'mmseg': 'segmentation', 'mmdet': 'detection'}


def load_model(config, checkpoint=None, cfg_options=None):
    """``(cfg, model, task)`` for a config file (or Config), in eval mode on the CPU. Without
    ``checkpoint`` the model keeps its initial weights (the backbone's ``init_cfg`` is dropped)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
    from mmengine.utils import import_modules_from_strings

    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(f'{config}: default_scope must be one of {sorted(TASKS)}, got {scope!r}')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    # As mmengine's Runner builds the model: the config's top-level data_preprocessor is the
    # model's unless the model sets its own (mmpretrain configs keep it at the top level only).
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if checkpoint is None and cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    registry = {'mmpretrain': 'mmpretrain.registry', 'mmseg': 'mmseg.registry', 'mmdet': 'mmdet.registry'}[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = models.build(copy.deepcopy(cfg.model))  # DINO writes into its bbox_head dict
        if checkpoint is None:
            model.init_weights()
    if checkpoint is not None:
        from internimage.checkpoint.loading import unwrap_state_dict
        from internimage.checkpoint.safe_loading import allow_mmengine_checkpoints
        allow_mmengine_checkpoints()
        state = unwrap_state_dict(CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu'), checkpoint)
        load_state_dict(model, state, strict=True)
    return cfg, model.eval(), TASKS[scope]


def class_names(model, cfg):
    """The model's class names: its dataset meta, else the config's test dataset's (no data needed)."""
    meta = model.dataset_meta if getattr(model, 'dataset_meta', None) else {}
    classes = meta.get('classes')
    return classes if classes is not None else _dataset_classes(cfg)


def _dataset_classes(cfg):
    """Class names of the config's test dataset type, from its registry."""
    try:
        dataset = cfg.test_dataloader.dataset
        scope = cfg.default_scope
        registry = __import__(f'{scope}.registry', fromlist=['DATASETS']).DATASETS
        dataset_cls = registry.get(dataset.type)
        return dataset.get('metainfo', {}).get('classes') or dataset_cls.METAINFO.get('classes')
    except (AttributeError, KeyError, TypeError):
        return None
