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


@pytest.fixture(autouse=True)
def _default_scope_isolated():
    """A test that sets mmengine's default scope (``init_default_scope``, a Runner built in process) does
    not pass it on: the next test's registry look-ups would be redirected to that scope."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture(autouse=True)
def _stop_signal_handlers_isolated():
    """A Runner built in process whose training ends with an exception (a non-finite-loss stop, say) never
    reaches PreemptionHook.after_train, so its signal handlers stay installed: put them back after each test
    (tools/train.py runs end the process, where this does not arise)."""
    import signal
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGUSR1)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)
