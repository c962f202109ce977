"""Memory per GPU of training a config, measured on fake tensors (no GPU, no memory, seconds):
weights, gradients, AdamW state, activations at the training image size, under DDP and sharded (FSDP).

    python tools/analysis_tools/training_memory.py configs/ade20k/upernet_internimage_h_896_160k_ade20k.py
    python tools/analysis_tools/training_memory.py configs/coco/dino_4scale_internimage_g_objects365_coco_ss.py \\
        --gpus 8 16 32
    python tools/analysis_tools/training_memory.py CONFIG [CONFIG ...] --markdown      # the documented table

The image size is the config's largest training input (a segmentor's crop; a detector's largest resize
scale as (short, long)); the batch is the config's per GPU. How it is measured, and what it leaves out:
internimage/analysis/training_memory.py. Float32 throughout, as the published recipes train.
"""
import argparse

from mmengine.config import Config, DictAction
from mmengine.utils import import_modules_from_strings

GIB = 2 ** 30
CARDS_GB = (24, 40, 80)
# A card holds a run whose measured peak is at most this share of its memory: the rest is the CUDA
# context, cuDNN / cuBLAS workspaces and the caching allocator's fragmentation.
USABLE_SHARE = 0.85


def holds(card, nbytes):
    """Whether a card of ``card`` GB holds ``nbytes``."""
    return nbytes <= USABLE_SHARE * card * 1e9


def fits(nbytes):
    """The smallest card (GB) that holds ``nbytes``, or None."""
    return next((card for card in CARDS_GB if holds(card, nbytes)), None)


def measure(config_path, size=None, batch=None, cfg_options=None):
    """(config, size, batch, StepMemory without activation checkpointing, StepMemory with it)."""
    from internimage.analysis.training_memory import measure_training_step, training_input_size
    cfg = Config.fromfile(config_path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    size = tuple(size) if size else training_input_size(cfg)
    batch = batch or cfg.train_dataloader.batch_size
    plain = measure_training_step(cfg, size, batch, checkpointing=False)
    checkpointed = measure_training_step(cfg, size, batch, checkpointing=True)
    return cfg, size, batch, plain, checkpointed


def best_fit(plain, checkpointed, gpus):
    """The cheapest way a card fits: (card GB, 'DDP' / 'DDP + ckpt' / 'FSDP/N + ckpt') per card size."""
    options = [('DDP', plain.data_parallel()), ('DDP + ckpt', checkpointed.data_parallel())]
    options += [(f'FSDP/{n} + ckpt', checkpointed.sharded(n)) for n in gpus]
    result = []
    for card in CARDS_GB:
        way = next((name for name, nbytes in options if holds(card, nbytes)), None)
        result.append(f'{card} GB: {way or "no"}')
    return '; '.join(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'), help='training image size')
    parser.add_argument('--batch', type=int, help='images per GPU (default: the config\'s)')
    parser.add_argument('--gpus', type=int, nargs='+', default=[8, 16], help='GPUs to shard over')
    parser.add_argument('--markdown', action='store_true', help='one table row per config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args()
    if args.markdown:
        sharded = ' | '.join(f'FSDP/{n} + ckpt' for n in args.gpus)
        print(f'| config | image x batch | params | recipe\'s `with_cp` | weights + grads + AdamW '
              f'| activations after forward, no ckpt / ckpt | DDP | DDP + ckpt | {sharded} | what fits a card |')
        print('|' + ' --- |' * (9 + len(args.gpus)))
    for path in args.configs:
        cfg, size, batch, plain, ckpt = measure(path, args.size, args.batch, args.cfg_options)
        name = path.rsplit('/', 1)[-1].removesuffix('.py')
        figures = [plain.data_parallel(), ckpt.data_parallel()] + [ckpt.sharded(n) for n in args.gpus]
        if args.markdown:
            cells = ' | '.join(f'{f / GIB:.1f}' for f in figures)
            with_cp = cfg.model.get('backbone', {}).get('with_cp', False)
            print(f'| `{name}` | {size[0]}x{size[1]} x {batch} | {plain.parameters / 1e9:.2f}B | {with_cp} '
                  f'| {plain.states / GIB:.1f} | {plain.saved / GIB:.1f} / {ckpt.saved / GIB:.1f} '
                  f'| {cells} | {best_fit(plain, ckpt, args.gpus)} |')
            continue
        print(f'{name}: {batch} image(s) of {size[0]}x{size[1]} per GPU, {plain.parameters / 1e6:.2f}M parameters')
        print(f'  weights {plain.weights / GIB:.2f} GiB, gradients {plain.gradients / GIB:.2f} GiB, '
              f'AdamW {plain.optimizer / GIB:.2f} GiB; '
              f'largest FSDP unit {plain.largest_unit / 1e6:.1f}M parameters')
        for label, step in (('without activation checkpointing', plain), ('every block checkpointed', ckpt)):
            print(f'  {label}: activations after forward {step.saved / GIB:.2f} GiB, peak of activations + '
                  f'temporaries {step.working_peak / GIB:.2f} GiB')
        labels = ['DDP', 'DDP + ckpt'] + [f'FSDP over {n} GPUs + ckpt' for n in args.gpus]
        for label, nbytes in zip(labels, figures):
            card = fits(nbytes)
            verdict = f'fits {card} GB' if card else 'too much for an 80 GB card'
            print(f'  {label:>26}: {nbytes / GIB:6.2f} GiB per GPU  ({verdict})')


if __name__ == '__main__':
    main()
