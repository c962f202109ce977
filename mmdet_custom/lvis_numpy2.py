"""LVIS evaluation under numpy 2.

mmdet's ``LVISMetric`` scores with the ``lvis`` package (LVIS API). Its latest release on PyPI, lvis 0.5.3 (and
OpenMMLab's fork mmlvis 10.5.3), calls ``np.float`` in ``LVISEval.accumulate``: an alias of the builtin
``float`` that numpy 1.24 removed, so every LVIS evaluation would end in an AttributeError. This gives the
lvis evaluation module, and nothing else, a numpy whose ``float`` is the builtin again; every other name is
numpy's own. Nothing happens where lvis is not installed (``LVISMetric`` then says how to install it) or
where its numpy still has ``float``."""
import types

import numpy as np


class _NumpyWithFloatAlias(types.ModuleType):
    float = float  # what np.float was

    def __getattr__(self, name):
        return getattr(np, name)


def patch_lvis_eval():
    try:
        import lvis.eval
    except ImportError:
        return
    if not hasattr(lvis.eval.np, 'float'):
        lvis.eval.np = _NumpyWithFloatAlias('numpy')


patch_lvis_eval()
