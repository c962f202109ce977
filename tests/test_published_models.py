"""The published detectors and segmentors, as they are: every published state_dict layout (COCO / ADE20K:
checkpoint_keys/det_seg; the other datasets: checkpoint_keys/det_seg_more) loads strictly into our config
of the same name, and the models compute the published outputs
(tests/data/published/published_outputs) from checkpoints in the published layout, loaded through
init_detector / init_model with no conversion step."""
import copy
import functools
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_state_dict

import mmdet_custom  # noqa: F401
import mmseg_custom  # noqa: F401
from published_configs import CONFIG_FOLDERS, OTHER_DATASET_CONFIGS
from published_outputs import BUNDLES, LAYOUTS, load_bundle, published_weights, read_layout, relative_error

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {path.stem: path for task in CONFIG_FOLDERS
           for path in (ROOT / 'configs' / task).glob('*.py')}
LAYOUT_DIRS = (LAYOUTS, LAYOUTS.parent / 'det_seg_more', LAYOUTS.parent / 'flash')
LAYOUT_FILES = {path.stem: path for folder in LAYOUT_DIRS for path in folder.glob('*.txt')}
LAYOUT_CONFIGS = sorted(name for name in LAYOUT_FILES if name in CONFIGS)
PARAMS = {line.split('\t')[0]: int(line.split('\t')[1])
          for folder in LAYOUT_DIRS for line in (folder / 'params.tsv').read_text().splitlines()[1:]}
FP32_TOL, FP64_TOL = 1e-4, 1e-6
FLASH_FP64_TOL = 1e-4  # issue 24; published_outputs/flash/README.md


@functools.lru_cache(maxsize=None)
def parsed_config(name):
    """Our config ``name``, parsed once per session (parsing dominates building on the meta device)."""
    return Config.fromfile(str(CONFIGS[name]))


def config_of(name):
    return copy.deepcopy(parsed_config(name))


def scope_of(name):
    return parsed_config(name).default_scope


def build_on_meta(name):
    from mmengine.registry import MODELS
    scope = scope_of(name)
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        return MODELS.build(config_of(name).model)


@pytest.fixture
def load_log():
    """Messages logged while the test runs (mmengine's current logger)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_every_published_config_has_a_layout():
    """26 configs of the published COCO / ADE20K detectors and segmentors (issues 16, 17, 23), those of
    the other datasets so far (issue 25: the segmentation ones) and FlashInternImage's 21 COCO / ADE20K ones
    (issue 24), each with its layout file."""
    assert set(CONFIGS) <= set(LAYOUT_FILES), sorted(set(CONFIGS) - set(LAYOUT_FILES))
    assert len(LAYOUT_CONFIGS) == 26 + OTHER_DATASET_CONFIGS + 21, LAYOUT_CONFIGS


@pytest.mark.parametrize('name', LAYOUT_CONFIGS)
def test_published_layout_loads_strictly(name, load_log):
    model = build_on_meta(name)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    # Zero-strided CPU tensors: the published shapes without the memory (copying into meta is a no-op).
    state = {key: torch.zeros(()).expand(shape) for key, shape in read_layout(LAYOUT_FILES[name])}
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*copying from a non-meta parameter')
        load_state_dict(model, state, strict=True)  # raises on any missing, unexpected or mis-shaped key
    total = len(model.state_dict())
    assert total == len(state)
    assert f'loaded {total}/{total} tensors; missing: none; unexpected: none; shape mismatch: none' in load_log[-1]


def reduced_mask2former(cfg):
    """The bundle's Mask2Former-H: H backbone flags, smaller sizes (published_outputs/README.md)."""
    cfg.model.backbone.update(channels=64, depths=[2, 2, 6, 2], groups=[4, 8, 16, 32],
                              level2_post_norm_block_ids=[1, 3, 5])
    head = cfg.model.decode_head
    head.update(in_channels=[64, 128, 256, 512], feat_channels=256, out_channels=256, num_queries=100)
    encoder = head.pixel_decoder.encoder.layer_cfg
    encoder.self_attn_cfg.update(embed_dims=256, num_heads=8)
    encoder.ffn_cfg.update(embed_dims=256, feedforward_channels=1024)
    decoder = head.transformer_decoder.layer_cfg
    decoder.self_attn_cfg.update(embed_dims=256, num_heads=8)
    decoder.cross_attn_cfg.update(embed_dims=256, num_heads=8)
    decoder.ffn_cfg.update(embed_dims=256, feedforward_channels=2048)
    head.pixel_decoder.positional_encoding.num_feats = head.positional_encoding.num_feats = 128


def bundle_model(bundle, tmp_path):
    """(config, checkpoint path, model loaded by init_detector / init_model) for a bundle."""
    cfg = config_of(bundle['config_stem'])
    cfg.model.backbone.update(init_cfg=None, with_cp=False)
    if bundle['preset'] == 'segformer_l_reduced':  # published_outputs/more/README.md: L flags, narrower
        cfg.model.backbone.update(channels=64, depths=[2, 2, 6, 2], groups=[4, 8, 16, 32])
        cfg.model.decode_head.in_channels = [64, 128, 256, 512]
    if bundle['preset'] == 'mask2former_reduced':
        reduced_mask2former(cfg)
    checkpoint = tmp_path / f'{bundle["model"]}.pth'
    torch.save(published_weights(bundle['layout_path'], bundle['seed']), checkpoint)
    if scope_of(bundle['config_stem']) == 'mmdet':
        from mmdet.apis import init_detector
        return cfg, checkpoint, init_detector(copy.deepcopy(cfg), str(checkpoint), device='cpu')
    from mmseg.apis import init_model
    return cfg, checkpoint, init_model(copy.deepcopy(cfg), str(checkpoint), device='cpu')


def loaded_bundle_model(bundle, tmp_path, load_log):
    """(config, model, feature channel stride, image metas, whether a detector) of a bundle, its
    checkpoint loaded whole (asserted from the load report)."""
    cfg, _, model = bundle_model(bundle, tmp_path)
    entries = bundle['n_state_dict_entries']
    assert any(f'loaded {entries}/{entries} tensors; missing: none; unexpected: none; shape mismatch: none' in line
               for line in load_log), load_log
    metas = [dict(meta) for meta in bundle['img_metas']]
    return cfg, model, bundle['feature_channel_stride'], metas, scope_of(bundle['config_stem']) == 'mmdet'


def dino_outputs(model, img, metas):
    """The bundle's DINO outputs, from the model's own predict path taken step by step."""
    from mmdet.structures import DetDataSample
    samples = [DetDataSample(metainfo=meta) for meta in metas]
    encoder_scores = []  # the encoder proposals' class logits (the last class branch)
    hook = model.bbox_head.cls_branches[-1].register_forward_hook(lambda m, i, out: encoder_scores.append(out))
    head_inputs = model.forward_transformer(model.extract_feat(img), samples)
    hook.remove()
    cls_scores, bbox_preds = model.bbox_head(head_inputs['hidden_states'], head_inputs['references'])
    results = model.bbox_head.predict_by_feat(cls_scores, bbox_preds, metas, rescale=False)
    scores = encoder_scores[0]
    topk = scores.max(-1)[0].topk(model.num_queries, dim=1)[1]  # DINO's two-stage query selection
    return dict(
        cls_scores_last=cls_scores[-1], bbox_preds_all=bbox_preds,
        enc_topk_scores=torch.gather(scores, 1, topk[..., None].expand(-1, -1, scores.shape[-1])),
        enc_topk_anchors=head_inputs['references'][0],
        det_bboxes=torch.stack([torch.cat([r.bboxes, r.scores[:, None]], 1) for r in results]),
        det_labels=torch.stack([r.labels for r in results]))


def segmentor_outputs(model, img, metas):
    head_outputs = []  # Mask2Former: the head's per-layer class and mask predictions
    hook = model.decode_head.register_forward_hook(lambda m, i, out: head_outputs.append(out))
    logits = model.encode_decode(img, metas)
    hook.remove()
    outputs = dict(seg_logits_s4=logits[:, :, ::4, ::4], seg_logits_s8=logits[:, :, ::8, ::8],
                   seg_argmax=logits.argmax(1).to(torch.uint8))
    if head_outputs:  # UPerHead.predict calls forward() directly, so no hook fires there
        outputs.update(cls_pred_last=head_outputs[0][0][-1], mask_pred_last=head_outputs[0][1][-1])
    return outputs


def compare(ours, reference, tolerance):
    """{output: error} for every stored output: relative for values, mismatch fraction for labels."""
    errors = {}
    for key, expected in reference.items():
        if key in ('backbone_feats', 'neck_feats'):
            for i, (mine, theirs) in enumerate(zip(ours[key], expected, strict=True)):
                errors[f'{key}[{i}]'] = relative_error(mine, theirs)
        elif expected.dtype in (torch.uint8, torch.int64):
            errors[key] = (ours[key].cpu() != expected).double().mean().item()
        else:
            errors[key] = relative_error(ours[key], expected)
    bad = {key: error for key, error in errors.items() if not error <= tolerance}
    assert not bad, f'outputs beyond {tolerance}: {bad}'
    print(f'worst error (tolerance {tolerance}): {max(errors, key=errors.get)} {max(errors.values()):.2e}')


@pytest.mark.parametrize('name', ['dino_t', 'mask2former_h_reduced', 'upernet_t',
                                  'more/cityscapes_segformer_l_reduced'])
def test_published_outputs(name, tmp_path, load_log):
    bundle = load_bundle(name)
    cfg, model, stride, metas, is_detector = loaded_bundle_model(bundle, tmp_path, load_log)
    with torch.no_grad():
        # float32: features (every stride-th channel), and the outputs the bundle stores in float32
        img = bundle['img']
        features = model.backbone(img)
        ours = dict(backbone_feats=[f[:, ::stride] for f in features])
        if is_detector:
            ours['neck_feats'] = [f[:, ::stride] for f in model.neck(features)]
        elif set(bundle['fp32']) - {'backbone_feats'}:
            ours.update(segmentor_outputs(model, img, metas))
        compare(ours, bundle['fp32'], FP32_TOL)
        # float64: the outputs that pass through a discrete choice (top-k, argmax, attention masks)
        model.double()
        ours = (dino_outputs if is_detector else segmentor_outputs)(model, img.double(), metas)
        compare(ours, bundle['fp64'], FP64_TOL)

    # Our own checkpoint of that model (mmdet 3 / mmseg 1 names) loads back as it is.
    own = tmp_path / 'own.pth'
    torch.save({'state_dict': model.float().state_dict(), 'meta': {}}, own)
    from mmengine.runner import load_checkpoint
    logged = len(load_log)
    with DefaultScope.overwrite_default_scope(scope_of(bundle['config_stem'])), torch.device('meta'):
        from mmengine.registry import MODELS
        fresh = MODELS.build(cfg.model)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*copying from a non-meta parameter')
        load_checkpoint(fresh, str(own), strict=True)
    total = len(fresh.state_dict())
    assert not any('renamed' in line for line in load_log[logged:])
    assert f'loaded {total}/{total} tensors; missing: none' in load_log[-1]


@pytest.mark.parametrize('name', ['flash_dino_t', 'flash_upernet_t'])
def test_flash_published_outputs_in_float64(name, tmp_path, load_log):
    """FlashInternImage-T DINO and UperNet (published_outputs/flash) loaded by init_detector / init_model
    from the published layout: the float64 forward gives the published float64 outputs. (In float32 the
    random-weight model is ill-conditioned, see that README: only the first output level is compared, within
    a few times the published float32 forward's own distance from float64 there.)"""
    bundle = load_bundle(f'flash/{name}')
    _, model, stride, metas, is_detector = loaded_bundle_model(bundle, tmp_path, load_log)
    with torch.no_grad():
        first = model.backbone(bundle['img'])[0][:, ::stride]
        rounding = bundle['fp32_vs_fp64_rel_diff']['backbone_feats'][0]
        compare(dict(backbone_feats=[first]), dict(backbone_feats=bundle['fp32']['backbone_feats'][:1]),
                max(FP32_TOL, 5 * rounding))
        model.double()
        img = bundle['img'].double()
        features = model.backbone(img)
        ours = dict(backbone_feats=[f[:, ::stride] for f in features])
        if is_detector:
            ours['neck_feats'] = [f[:, ::stride] for f in model.neck(features)]
            ours.update(dino_outputs(model, img, metas))
        else:
            ours.update(segmentor_outputs(model, img, metas))
        compare(ours, bundle['fp64'], FLASH_FP64_TOL)


def test_flash_classifier_published_outputs_in_float64(tmp_path):
    """FlashInternImage-T classification (published_outputs/flash/flash_cls_t) loaded by mmpretrain's
    init_model from the published layout: the float64 forward gives the published four levels and logits."""
    from mmpretrain.apis import init_model
    bundle = load_bundle('flash/flash_cls_t')
    checkpoint = tmp_path / 'flash_cls_t.pth'
    torch.save(published_weights(bundle['layout_path'], bundle['seed']), checkpoint)
    cfg = Config.fromfile(str(ROOT / 'configs' / 'imagenet' / f'{bundle["config_stem"]}.py'))
    cfg.model.backbone.out_indices = (0, 1, 2, 3)  # the head reads the last; the bundle stores all four
    model = init_model(cfg, str(checkpoint), device='cpu').double()
    stride = bundle['feature_channel_stride']
    with torch.no_grad():
        img = bundle['img'].double()
        ours = dict(backbone_feats=[f[:, ::stride] for f in model.backbone(img)], logits=model(img, mode='tensor'))
    reference = bundle['fp64']
    compare(ours, dict(backbone_feats=reference['stage_feats'], logits=reference['logits']), FLASH_FP64_TOL)


def test_convert_checkpoint_writes_mmdet3_names(tmp_path):
    source, converted = tmp_path / 'published.pth', tmp_path / 'converted.pth'
    torch.save(published_weights(BUNDLES / 'dino_t.layout.txt'), source)
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'model_converters' / 'convert_checkpoint.py'), str(source), str(converted)],
                   check=True, capture_output=True)
    state = torch.load(converted, weights_only=True)['state_dict']
    model = build_on_meta('dino_4scale_internimage_t_1x_coco_layer_wise_lr')
    assert sorted(state) == sorted(model.state_dict())
    original = torch.load(source, weights_only=True)['state_dict']
    assert torch.equal(state['level_embed'], original['bbox_head.transformer.level_embeds'])


def test_load_report_summarises_missing_unexpected_and_mismatched_keys(load_log):
    name = 'upernet_internimage_t_512_160k_ade20k'
    model = build_on_meta(name)
    state = {key: torch.zeros(()).expand(shape) for key, shape in read_layout(LAYOUT_FILES[name])}
    del state['decode_head.conv_seg.weight'], state['decode_head.conv_seg.bias']
    state['decode_head.extra.weight'] = torch.zeros(1)
    state['auxiliary_head.conv_seg.bias'] = torch.zeros(3)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*copying from a non-meta parameter')
        load_state_dict(model, state, strict=False)
    line = [line for line in load_log if line.startswith('EncoderDecoder: loaded')][-1]
    assert line == ('EncoderDecoder: loaded 764/767 tensors; missing: 2 [decode_head.conv_seg.weight, '
                    'decode_head.conv_seg.bias]; unexpected: 1 [decode_head.extra.weight]; '
                    'shape mismatch: auxiliary_head.conv_seg.bias (3,) vs (150,) (1)')
