"""Everything a range test changes in a model, captured and put back bitwise."""

import numpy as np

from keras_lr.callbacks import _optimizer


class ModelState:
    """The values of every model and optimizer variable, and the optimizer's rate.

    Values are copied to host memory and assigned back, which is exact: after
    `restore()` each variable holds the same bits as when captured.
    """

    def __init__(self, model):
        self.model = model
        optimizer = model.optimizer
        self.optimizer = optimizer
        self.inner = _optimizer.inner_optimizer(optimizer)
        variables = list(model.variables) + [v for v in optimizer.variables]
        seen, self.variables = set(), []
        for variable in variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                self.variables.append((variable, np.array(variable.numpy(), copy=True)))
        self.learning_rate = self.inner._learning_rate
        self.attributes = {
            name: getattr(self.inner, name)
            for name in _optimizer.MOMENTUM_ATTRIBUTES
            if hasattr(self.inner, name)
        }
        self.steps_per_execution = model.steps_per_execution
        self.stop_training = getattr(model, "stop_training", False)
        self.history = getattr(model, "history", None)

    def restore(self):
        model = self.model
        self.inner._learning_rate = self.learning_rate
        for name, value in self.attributes.items():
            setattr(self.inner, name, value)
        for variable, value in self.variables:
            variable.assign(value)
        model.steps_per_execution = self.steps_per_execution
        model.stop_training = self.stop_training
        model.history = self.history
        model.make_train_function(force=True)
