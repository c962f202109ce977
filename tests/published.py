"""The published reference data inside the repository (tests/data/published, see its README) and
checkpoints in the published InternImage layout made from it (no download: shapes come from
checkpoint_keys, values are random)."""
import ast
from pathlib import Path

import torch

PUBLISHED_DATA = Path(__file__).resolve().parent / 'data' / 'published'
KEYS_DIR = PUBLISHED_DATA / 'checkpoint_keys'


def published_checkpoint(name, path):
    """A checkpoint in the published layout, with random weights of the published shapes."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for line in (KEYS_DIR / f'internimage_{name}_cls_keys.txt').read_text().splitlines():
        key, shape = line.split('\t')
        shape = ast.literal_eval(shape)
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.02
    torch.save({'model': state, 'epoch': 299, 'max_accuracy': 83.5}, path)
    return state
