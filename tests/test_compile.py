"""torch.compile: the backbone compiles as one graph with the DCNv3 op inside (forward and
backward), and a UPerNet forward compiles with the same outputs as eager.

Small models and the aot_eager backend (dynamo and AOT autograd with the op's fake kernel and
autograd registration, without inductor's code generation) keep these tests fast;
tools/analysis_tools/benchmark_backbone.py --compile runs InternImage-T through inductor."""
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from internimage import InternImage

from test_segmentation import build as build_segmentor
from test_segmentation import ROOT, seg_batch

TINY = dict(channels=16, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8], drop_path_rate=0.0)


def test_backbone_compiles_as_one_graph_with_gradients():
    torch._dynamo.reset()
    model = InternImage(**TINY, layer_scale=1.0).train()
    for p in model.parameters():  # off the zero initialisation, so offsets and mask matter
        p.data.add_(torch.randn_like(p) * 0.1)
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)  # a graph break is an error
    x = torch.randn(2, 3, 48, 64)
    outs = {}
    for name, fn in (('eager', model), ('compiled', compiled)):
        inputs = x.clone().requires_grad_()
        feats = fn(inputs)
        loss = sum((f * torch.cos(torch.arange(f.numel()).reshape(f.shape))).sum() for f in feats)
        outs[name] = (feats, torch.autograd.grad(loss, [inputs, *model.parameters()]))
    for got, expected in zip(outs['compiled'][0], outs['eager'][0]):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    for got, expected in zip(outs['compiled'][1], outs['eager'][1]):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3)


def test_upernet_forward_compiles():
    torch._dynamo.reset()
    cfg = Config.fromfile(str(ROOT / 'configs' / 'ade20k' / 'upernet_internimage_t_512_160k_ade20k.py'))
    cfg.model.backbone.init_cfg = None  # no download
    cfg.model.backbone.depths = [1, 1, 2, 1]  # the T config with fewer blocks: tracing time
    model = build_segmentor(cfg).eval()
    with DefaultScope.overwrite_default_scope('mmseg'):
        batch = model.data_preprocessor(seg_batch((64, 64), 150), False)
        with torch.no_grad():
            expected = model(**batch, mode='tensor')
            got = torch.compile(model, backend='aot_eager')(**batch, mode='tensor')
    assert torch._dynamo.utils.counters['graph_break'] == {}
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
