"""tools/analysis_tools/get_flops.py counts the DCNv3 / DCNv4 cores; InternImage-T at 224 is near the published
5 GFLOPs, FlashInternImage-T (no published figure) has the published parameter count."""
import subprocess
import sys
from pathlib import Path

import torch

from internimage.analysis.flops import flop_analyzer

ROOT = Path(__file__).resolve().parents[1]


def test_dcnv3_core_is_counted():
    from ops_dcnv3.functions import DCNv3Function

    class Core(torch.nn.Module):
        def forward(self, x, offset, mask):
            return DCNv3Function.apply(x, offset, mask, 3, 3, 1, 1, 1, 1, 1, 1, 4, 8, 1.0, 256, 0)

    x, offset, mask = torch.randn(2, 10, 12, 32), torch.zeros(2, 10, 12, 72), torch.ones(2, 10, 12, 36)
    assert flop_analyzer(Core(), (x, offset, mask)).total() == 2 * 10 * 12 * 32 * 9 * 5


def test_get_flops_internimage_t():
    out = subprocess.run([sys.executable, 'tools/analysis_tools/get_flops.py',
                          'configs/imagenet/internimage_t_1k_224.py', '--shape', '224', '224'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    flops = float(out.split('FLOPs: ')[1].split(' G')[0])
    assert 4.75 <= flops <= 5.25, out  # published: 5G
    assert 'parameters: 29.92 M (backbone 28.75 M)' in out


def test_get_flops_flash_internimage_t():
    """The tool's count in this process (the command line is the one above): DCNv4 drops DCNv3's depthwise
    conv + LN + GELU branch and its separate offset / mask Linears, so a little less than InternImage-T
    (4.90 G; none published), with the published 29,815,528 parameters."""
    sys.path.insert(0, str(ROOT / 'tools/analysis_tools'))
    from get_flops import count
    flops, backbone_flops, params, _ = count(str(ROOT / 'configs/imagenet/flash_intern_image_t_1k_224.py'), (224, 224))
    assert 4.75e9 <= flops <= 5.0e9 and backbone_flops < flops
    assert params == 29_815_528
