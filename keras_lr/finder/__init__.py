"""The learning-rate range test: `lr_find`, the `LRFinder` callback, the result and its suggestions."""

from keras_lr.finder import suggestions as suggestions
from keras_lr.finder.callback import LRFinder as LRFinder
from keras_lr.finder.range_test import lr_find as lr_find
from keras_lr.finder.result import LRFinderResult as LRFinderResult
from keras_lr.finder.result import assess as assess

__all__ = ["LRFinder", "LRFinderResult", "assess", "lr_find", "suggestions"]
