"""The published detectors' and segmentors' outputs (tests/data/published/published_outputs): checkpoints
regenerated from a layout file exactly as that README describes, and error measures."""
import ast
import math
from collections import OrderedDict
from pathlib import Path

import torch

from published import PUBLISHED_DATA

BUNDLES = PUBLISHED_DATA / 'published_outputs'
LAYOUTS = PUBLISHED_DATA / 'checkpoint_keys' / 'det_seg'


def read_layout(path):
    """[(key, shape)] of a layout file (``#`` lines are its recipe)."""
    entries = []
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith('#'):
            key, shape = line.split('\t')
            entries.append((key, tuple(ast.literal_eval(shape))))
    return entries


def published_weights(layout_file, seed=0):
    """The bundle's checkpoint: deterministic weights in the published key layout."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in read_layout(layout_file):
        leaf = key.rsplit('.', 1)[-1]
        if leaf == 'num_batches_tracked':
            state[key] = torch.tensor(0, dtype=torch.int64)
            continue
        r = torch.randn(shape, generator=gen, dtype=torch.float32)
        if leaf == 'running_var':
            state[key] = 1 + 0.1 * r.abs()
        elif len(shape) >= 2:
            state[key] = r / math.sqrt(max(1, math.prod(shape[1:])))
        elif leaf == 'weight' or leaf.startswith('gamma'):
            state[key] = 1 + 0.1 * r
        else:
            state[key] = 0.02 * r
    return {'state_dict': state, 'meta': {}}


def load_bundle(name):
    """The bundle ``name`` (relative to published_outputs/, e.g. 'dino_t' or 'flash/flash_dino_t'), with
    ``layout_path`` its layout file."""
    bundle = torch.load(BUNDLES / f'{name}.pt', weights_only=True)
    bundle['layout_path'] = (BUNDLES / name).parent / bundle['layout_file']
    return bundle


def relative_error(ours, reference):
    """max |ours - reference| / max |reference| (0 for two zero tensors)."""
    ours, reference = ours.detach().double().cpu(), reference.double()
    assert ours.shape == reference.shape, (tuple(ours.shape), tuple(reference.shape))
    return ((ours - reference).abs().max() / reference.abs().max().clamp_min(1e-30)).item()
