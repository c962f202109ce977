"""Write a published InternImage detection / segmentation checkpoint with mmdet 3 / mmseg 1 key names.

    python tools/model_converters/convert_checkpoint.py IN.pth OUT.pth

Not needed to use the published checkpoints: the configs' models rename the published layouts as
they load (load_from, tools/test.py, init_detector, init_model, load_checkpoint). The same rules
(internimage/checkpoint/published_layouts.py) rename here; keys of any other layout pass unchanged.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from internimage.checkpoint.loading import unwrap_state_dict  # noqa: E402
from internimage.checkpoint.published_layouts import convert_published_checkpoint  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='published checkpoint (weights under state_dict)')
    parser.add_argument('output', help='where to write the converted checkpoint')
    args = parser.parse_args(argv)
    checkpoint = torch.load(args.input, map_location='cpu', weights_only=True)
    state = unwrap_state_dict(checkpoint, args.input)
    renamed = convert_published_checkpoint(state)
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    torch.save({'state_dict': state, 'meta': meta}, args.output)
    found = ', '.join(f'{name}: {count} keys renamed' for name, count in renamed.items()) or 'no published layout found'
    print(f'{args.input} -> {args.output}: {len(state)} tensors; {found}')


if __name__ == '__main__':
    main()
