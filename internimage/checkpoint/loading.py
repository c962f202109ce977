"""Reading the published InternImage checkpoints into this project's modules.

Published classification checkpoints keep their weights under ``model`` with
backbone keys at the top level (``patch_embed.*``, ``levels.*``); detection and
segmentation checkpoints keep them under ``state_dict`` with a ``backbone.``
prefix. Both, and plain state dicts, load without conversion.
"""
import re

from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .published_layouts import rename_published_keys
from .safe_loading import allow_mmengine_checkpoints

BACKBONE_PREFIXES = ('patch_embed.', 'levels.')
WRAPPER_KEYS = ('state_dict', 'model', 'module')


def unwrap_state_dict(checkpoint, source='checkpoint'):
    """The tensor dict of a checkpoint: under 'state_dict', 'model' or 'module', or the dict itself."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{source}: expected a dict of tensors, got {type(checkpoint).__name__}')
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    # Weights saved from DistributedDataParallel carry a 'module.' prefix.
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in checkpoint.items()}


def split_backbone_state(state):
    """(backbone tensors with InternImage's own key names, names of the other keys)."""
    if any(k.startswith('backbone.') for k in state):
        backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        return backbone, [k for k in state if not k.startswith('backbone.')]
    backbone = {k: v for k, v in state.items() if k.startswith(BACKBONE_PREFIXES)}
    return backbone, [k for k in state if k not in backbone]


def summarize_keys(keys, limit=6):
    """Compress a key list for one log line: numbered indices become '*', with counts."""
    if not keys:
        return 'none'
    patterns = {}
    for key in keys:
        pattern = re.sub(r'\.\d+\.', '.*.', key)
        pattern = re.sub(r'\.\d+\.', '.*.', pattern)  # overlapping matches need a second pass
        patterns[pattern] = patterns.get(pattern, 0) + 1
    items = [f'{p} (x{n})' if n > 1 else p for p, n in patterns.items()]
    more = f', ... {len(items) - limit} more patterns' if len(items) > limit else ''
    return f'{len(keys)} [' + ', '.join(items[:limit]) + more + ']'


def check_shapes(own_state, state, source):
    """Raise before loading anything if a tensor's shape differs (another variant's checkpoint)."""
    for key, value in own_state.items():
        if key in state and tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(
                f'{source}: shape mismatch at {key!r}: checkpoint {tuple(state[key].shape)} vs model '
                f'{tuple(value.shape)}. Is it a checkpoint of another InternImage variant? Nothing was loaded.')


def load_backbone_checkpoint(backbone, filename, logger='current', map_location='cpu'):
    """Load an InternImage backbone from any published checkpoint layout (file path or URL)."""
    allow_mmengine_checkpoints()  # URLs weights-only as well
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    state, unused = split_backbone_state(unwrap_state_dict(checkpoint, filename))
    if not state:
        raise ValueError(f'{filename}: no InternImage backbone weights found (looked for keys '
                         f'{", ".join(p + "*" for p in BACKBONE_PREFIXES)} or backbone.*)')
    own_state = backbone.state_dict()
    check_shapes(own_state, state, filename)
    backbone.load_state_dict(state, strict=False)
    missing = [k for k in own_state if k not in state]
    unexpected = [k for k in state if k not in own_state]
    gammas = [k for k in missing if k.rsplit('.', 1)[-1] in ('gamma1', 'gamma2')]
    print_log(f'InternImage: loaded {len(own_state) - len(missing)}/{len(own_state)} backbone tensors from '
              f'{filename}; missing: {summarize_keys(missing)}'
              f'{" (layer-scale gammas keep their configured value)" if gammas else ""}; '
              f'unexpected: {summarize_keys(unexpected)}; not for the backbone (unused): {summarize_keys(unused)}',
              logger=logger)
    return missing, unexpected


def read_published_layout(module, layout):
    """Let ``module`` take checkpoints in ``layout`` (a PublishedLayout) as well as its own names: a
    load_state_dict pre-hook renames the keys, whichever path loads them (torch's or mmengine's
    load_state_dict, load_checkpoint, init_detector / init_model, a Runner's load_from)."""
    module.published_layout = layout
    module.register_load_state_dict_pre_hook(_rename_published_keys_hook)


def _rename_published_keys_hook(module, state_dict, prefix, *args):
    renamed = rename_published_keys(state_dict, module.published_layout, prefix)
    if renamed:
        print_log(f'{type(module).__name__}: {renamed} keys of the {module.published_layout.name} layout renamed '
                  f'to mmdet 3 / mmseg 1 names', logger='current')


def report_loading(model):
    """End every load of a state dict into ``model`` with one log line: tensors loaded, and the
    missing, unexpected and shape-mismatched keys summarised by pattern."""
    if getattr(model, '_reports_loading', False):
        return
    model._reports_loading = True
    model.register_load_state_dict_pre_hook(_measure_state_dict)
    model.register_load_state_dict_post_hook(_log_load_report)


def _measure_state_dict(model, state_dict, prefix, *args):
    # Submodules' published layouts are renamed here first, so that the report sees the final names
    # (their own pre-hooks, which run later, then find nothing left to rename).
    for name, submodule in model.named_modules(prefix=prefix.rstrip('.')):
        if getattr(submodule, 'published_layout', None) is not None:
            _rename_published_keys_hook(submodule, state_dict, name + '.' if name else '')
    own = {prefix + key: tuple(value.shape) for key, value in model.state_dict().items()}
    given = {key: tuple(value.shape) for key, value in state_dict.items()
             if key.startswith(prefix) and hasattr(value, 'shape')}
    mismatched = [f'{key} {given[key]} vs {own[key]}' for key in own if key in given and given[key] != own[key]]
    model._load_report = dict(
        loaded=sum(1 for key in own if given.get(key) == own[key]), total=len(own),
        missing=[key for key in own if key not in given], unexpected=[key for key in given if key not in own],
        mismatched=mismatched)


def _log_load_report(model, incompatible_keys):
    report = model.__dict__.pop('_load_report', None)
    if report is None:
        return
    mismatched = report['mismatched']
    print_log(f'{type(model).__name__}: loaded {report["loaded"]}/{report["total"]} tensors; '
              f'missing: {summarize_keys(report["missing"])}; unexpected: {summarize_keys(report["unexpected"])}; '
              f'shape mismatch: {"; ".join(mismatched[:3]) + (" ..." if len(mismatched) > 3 else "") or "none"}'
              f'{f" ({len(mismatched)})" if mismatched else ""}', logger='current')
