import functools

import mmengine.config.utils
import pytest
import torch

# mmengine resolves each ``mmseg::`` / ``mmdet::`` base config by reading every metafile the package
# ships (over 200 yaml files, 0.4 s a base); the suite parses hundreds of configs. The files do not change
# while it runs: read each once.
mmengine.config.utils.load = functools.lru_cache(maxsize=None)(mmengine.config.utils.load)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
