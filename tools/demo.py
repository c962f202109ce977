"""The main job on embedded data (``make demo``).

For now a smoke run: build an InternImage classifier from its config and run it on one
generated image through mmpretrain's inference API, printing the top predictions.
"""
import argparse
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='configs/imagenet/internimage_t_1k_224.py')
    parser.add_argument('--checkpoint', default=None, help='optional weights (e.g. a published .pth)')
    args = parser.parse_args()

    from mmpretrain.apis import ImageClassificationInferencer

    import ops_dcnv3

    start = time.time()
    inferencer = ImageClassificationInferencer(args.config, pretrained=args.checkpoint or False, device='cpu')
    model = inferencer.model
    n_params = sum(p.numel() for p in model.parameters())
    print(f'built {type(model.backbone).__name__} from {args.config}: {n_params / 1e6:.2f}M parameters; '
          f'DCNv3 kernels for {sorted(ops_dcnv3.backends())}')
    rng = np.random.default_rng(0)
    image = (rng.random((256, 320, 3)) * 255).astype(np.uint8)  # a BGR image, as loaded by mmcv
    result = inferencer(image)[0]
    print(f"prediction: class {result['pred_label']} (score {result['pred_score']:.4f}) "
          f'in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
