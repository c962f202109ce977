from .classifier import InternImageClassifier
from .heads import InternImageClipHead, InternImageClsHead

__all__ = ['InternImageClassifier', 'InternImageClipHead', 'InternImageClsHead']
