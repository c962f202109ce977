"""The model zoo index: ``model-index.yml`` imports each config folder's ``metafile.yml`` (OpenMMLab's
model-index format). Every config has one entry, every entry's config exists, and each entry's parameter
count is that of the model its config builds (on the meta device: no memory, the giant configs included)."""
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import mmcls_custom  # noqa: F401
import mmdet_custom  # noqa: F401
import mmseg_custom  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
NOT_MODELS = ('_base_', 'deploy')  # recipe parts; mmdeploy's deploy configs
INDEX = yaml.safe_load((ROOT / 'model-index.yml').read_text())
METAFILES = {path: yaml.safe_load((ROOT / path).read_text()) for path in INDEX['Import']}
ENTRIES = {model['Name']: model for metafile in METAFILES.values() for model in metafile['Models']}


def config_folders():
    return sorted(path for path in CONFIGS.iterdir() if path.is_dir() and path.name != '_base_')


def test_every_folder_has_a_readme_and_its_metafile_is_indexed():
    for folder in config_folders():
        assert (folder / 'README.md').is_file(), folder
        if folder.name not in NOT_MODELS:
            assert f'configs/{folder.name}/metafile.yml' in METAFILES, folder
    assert all((ROOT / path).is_file() for path in METAFILES)


def test_every_config_has_one_entry_and_every_entry_a_config():
    configs = sorted(str(path.relative_to(ROOT)) for folder in config_folders() if folder.name not in NOT_MODELS
                     for path in folder.glob('*.py'))
    models = [model for metafile in METAFILES.values() for model in metafile['Models']]
    assert sorted(model['Config'] for model in models) == configs
    assert all(Path(model['Config']).stem == model['Name'] for model in models)
    assert len(ENTRIES) == len(models)  # names are unique


@pytest.mark.parametrize('path', sorted(METAFILES))
def test_entries_carry_the_model_index_fields(path):
    metafile = METAFILES[path]
    collections = {collection['Name']: collection for collection in metafile['Collections']}
    for collection in collections.values():
        assert collection['Paper']['URL'].startswith('https://arxiv.org/') and collection['Paper']['Title']
        assert (ROOT / collection['README']).is_file()
    for model in metafile['Models']:
        assert model['In Collection'] in collections, model['Name']
        metadata = model['Metadata']
        assert isinstance(metadata['Parameters'], int) and metadata['Parameters'] > 0
        assert isinstance(metadata.get('FLOPs', 1), int)
        assert metadata['Training Data'] and all(isinstance(data, str) for data in metadata['Training Data'])
        for result in model.get('Results', []):
            assert result['Task'] and result['Dataset'] and result['Metrics'], model['Name']
            assert all(isinstance(value, float) for value in result['Metrics'].values()), model['Name']
        weights = model.get('Weights')  # the published checkpoint, where one is published
        assert weights is None or weights.startswith('https://huggingface.co/OpenGVLab/'), model['Name']


@pytest.mark.parametrize('name', sorted(ENTRIES))
def test_parameter_count_is_the_built_models(name):
    cfg = Config.fromfile(str(ROOT / ENTRIES[name]['Config']))
    with DefaultScope.overwrite_default_scope(cfg.default_scope), torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert sum(param.numel() for param in model.parameters()) == ENTRIES[name]['Metadata']['Parameters']
