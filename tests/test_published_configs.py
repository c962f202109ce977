"""Each config of a published detector or segmentor resolves to the published settings, setting by
setting (model with heads and test settings, pipelines, optimizer, layer decay, clipping, schedule,
batch, evaluation and checkpoints), read from the published resolved configs; the mapping of mmdet 2 /
mmseg 0.x names onto mmdet 3 / mmseg 1 ones is in published_configs.py."""
from pathlib import Path

import pytest
from mmengine.config import Config

from published_configs import differences, our_settings, published_settings

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT.parents[0] / 'shared' / 'reference' / 'published_configs'
OURS = {path.stem: path for task in ('coco', 'ade20k', 'cityscapes')
        for path in (ROOT / 'configs' / task).glob('*.py')}
# COCO / ADE20K in published_configs/, the other datasets in published_configs/more/, FlashInternImage's
# COCO / ADE20K in published_configs/flash/.
PUBLISHED_FILES = {path.stem: path for folder in (PUBLISHED, PUBLISHED / 'more', PUBLISHED / 'flash')
                   for path in folder.glob('*.py')}
NAMES = sorted(name for name in OURS if name in PUBLISHED_FILES)


def test_every_config_of_ours_is_a_published_one():
    # COCO / ADE20K, Cityscapes UperNet, FlashInternImage's COCO / ADE20K (without the _nsmx variant)
    assert sorted(OURS) == NAMES and len(NAMES) == 26 + 5 + 20


@pytest.mark.parametrize('name', NAMES)
def test_settings_equal_the_published_ones(name):
    published = published_settings(Config.fromfile(str(PUBLISHED_FILES[name])).to_dict())
    ours = our_settings(Config.fromfile(str(OURS[name])).to_dict(), published)
    found = [d for key in published for d in differences(published[key], ours[key], key)]
    assert not found, '\n'.join(found)
