"""Each config of a published detector or segmentor resolves to the published settings, setting by
setting (model with heads and test settings, pipelines, optimizer, layer decay, clipping, schedule,
batch, evaluation and checkpoints), read from the published resolved configs; the mapping of mmdet 2 /
mmseg 0.x names onto mmdet 3 / mmseg 1 ones is in published_configs.py."""
from pathlib import Path

import pytest
from mmengine.config import Config

from published import PUBLISHED_DATA
from published_configs import CONFIG_FOLDERS, OTHER_DATASET_CONFIGS, differences, our_settings, published_settings

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = PUBLISHED_DATA / 'published_configs'
OURS = {path.stem: path for task in CONFIG_FOLDERS
        for path in (ROOT / 'configs' / task).glob('*.py')}
# COCO / ADE20K in published_configs/, the other datasets in published_configs/more/, FlashInternImage's
# COCO / ADE20K in published_configs/flash/.
PUBLISHED_FILES = {path.stem: path for folder in (PUBLISHED, PUBLISHED / 'more', PUBLISHED / 'flash')
                   for path in folder.glob('*.py')}
NAMES = sorted(name for name in OURS if name in PUBLISHED_FILES)


def test_every_config_of_ours_is_a_published_one():
    # COCO / ADE20K, the other datasets, FlashInternImage's COCO / ADE20K (21)
    assert sorted(OURS) == NAMES and len(NAMES) == 26 + OTHER_DATASET_CONFIGS + 21


@pytest.mark.parametrize('name', NAMES)
def test_settings_equal_the_published_ones(name):
    published = published_settings(Config.fromfile(str(PUBLISHED_FILES[name])).to_dict())
    ours = our_settings(Config.fromfile(str(OURS[name])).to_dict(), published)
    found = [d for key in published for d in differences(published[key], ours[key], key)]
    assert not found, '\n'.join(found)


CLASSIFIERS = {path.stem: path for path in (PUBLISHED / 'flash').glob('*.yaml')}


def backbone_default(key):
    """The default of FlashInternImage's argument ``key`` (its own, else InternImage's)."""
    import inspect

    from internimage.models.backbone import FlashInternImage, InternImage
    for cls in (FlashInternImage, InternImage):
        parameter = inspect.signature(cls.__init__).parameters.get(key)
        if parameter is not None and parameter.kind is not parameter.VAR_KEYWORD:
            return parameter.default
    raise KeyError(key)


@pytest.mark.parametrize('name', sorted(CLASSIFIERS))
def test_flash_classifier_equals_the_published_model_section(name):
    """The published FlashInternImage classification yaml (MODEL section, as the published config.py
    resolves it; with_cp and the input size from its header) against our config: each backbone argument
    (the yaml keys in lower case), the classes, drop path, label smoothing and the test crop."""
    import re

    import yaml
    text = CLASSIFIERS[name].read_text()
    model = yaml.safe_load(text)['MODEL']
    arch = dict(model['FLASH_INTERN_IMAGE'])
    assert arch.pop('USE_CLIP_PROJECTOR') is False
    published = {key.lower(): value for key, value in arch.items()}
    published.update(type='FlashInternImage', drop_path_rate=model['DROP_PATH_RATE'],
                     with_cp=re.search(r'TRAIN\.USE_CHECKPOINT = (\w+)', text).group(1) == 'True')
    cfg = Config.fromfile(str(ROOT / 'configs' / 'imagenet' / f'{name}.py'))
    backbone = cfg.model.backbone
    ours = {key: backbone[key] if key in backbone else backbone_default(key) for key in published}
    found = differences(published, ours, 'backbone')
    # DROP_PATH_TYPE / DROP_RATE are not passed by the published build.py: the backbone's defaults apply
    found += differences(dict(drop_path_type='linear', drop_rate=0.0),
                         {key: backbone[key] if key in backbone else backbone_default(key)
                          for key in ('drop_path_type', 'drop_rate')})
    head = cfg.model.head
    found += differences(dict(type='InternImageClsHead', num_classes=model['NUM_CLASSES'],
                              label_smooth_val=model['LABEL_SMOOTHING']),
                         dict(type=head.type, num_classes=head.num_classes, label_smooth_val=head.loss.label_smooth_val))
    crop = [t['crop_size'] for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'CenterCrop']
    found += differences([int(re.search(r'DATA\.IMG_SIZE = (\d+)', text).group(1))], crop, 'test crop')
    assert not found, '\n'.join(found)
