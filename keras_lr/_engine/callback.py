"""The lifecycle every keras_lr callback shares."""

import copy

import keras

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._repr import config_repr
from keras_lr._engine.session import FitSession, calling_callback_list, running_session


def fresh_copy(callback, memo):
    """A deep copy of ``callback`` with its arguments but no model and no run state.

    KerasTuner deep-copies the callbacks passed to `search` for every trial:
    each copy must start clean, not carry the model of a previous fit.
    """
    new = callback.__class__.__new__(callback.__class__)
    memo[id(callback)] = new
    new.__dict__.update(callback.__dict__)
    new._model = None
    new._reset()  # rebinds the run state (a fit's session holds its model): nothing of it is copied
    new.__dict__ = {key: copy.deepcopy(value, memo) for key, value in new.__dict__.items()}
    return new


def fit_callbacks(callback):
    """The callbacks of the fit that is calling ``callback``'s hook, in order; None if unknown."""
    caller = calling_callback_list()
    callbacks = list(getattr(caller, "callbacks", None) or [])
    return callbacks if any(c is callback for c in callbacks) else None


class FitRecord:
    """What a pickled callback keeps of its last fit's session: the multipliers, the schedule's offset and
    whether the momentum was cycled, which `events_frame()` and `history_frame()` read after the fit."""

    members, token = (), None  # a fit of the unpickled callback joins a session of its own

    def __init__(self, session):
        self.multipliers, self.offset, self.cycles_momentum = session.multipliers, session.offset, session.cycles_momentum


class RelogRate(keras.callbacks.Callback):
    """Writes the rate of ``member``'s fit into each epoch's logs again.

    Listed after a callback that writes another there: Keras's
    `ReduceLROnPlateau` writes the optimizer's rate for the next step.
    """

    def __init__(self, member):
        super().__init__()
        self.member = member

    def on_epoch_end(self, epoch, logs=None):
        session = self.member._session
        if isinstance(session, FitSession) and session.members:
            session.log_rate(logs, max(session.iteration - 1, session.epoch_start))


class EngineCallback(keras.callbacks.Callback):
    """A callback that acts on the learning rate through the fit's `FitSession`.

    It joins the fit's session in `on_train_begin` (with its schedule, if it
    sets the rate: `_schedule()`), lets the session put the schedule in at the
    first epoch, reports each batch hook so the session counts the steps,
    and leaves in `on_train_end`. Run state lives in attributes that
    `_reset()` sets, called at every `on_train_begin` and by `deepcopy`.
    Subclasses extend `_reset`, `_schedule` and `_after_batch`.
    """

    # Whether a schedule the optimizer holds is replaced for the fit (else an error).
    replaces_optimizer_schedule = False
    # Whether no other keras_lr callback may join its fit, nor another callback set the rate (the range test).
    runs_alone = False
    # Whether its schedule is placed at initial_epoch x steps per epoch (a resumed run), else it starts at the
    # fit's first step whatever initial_epoch is (the range test, whose steps count from its own start).
    resumes_at_initial_epoch = True
    # Whether a fit at initial_epoch > 0 whose optimizer never stepped gets a warning that the schedule is placed
    # as resumed (not where KerasTuner's Hyperband continues a trial with a fresh optimizer on purpose).
    warns_of_fresh_resume = True

    def __init__(self, verbose=0):
        super().__init__()
        self.verbose = v.check_verbose(type(self).__name__, verbose)
        self._reset()

    def _reset(self):
        self._session = None

    def _sized_in_batches(self):
        """Whether this fit's schedule was sized in fit's batches (a length inferred from it), which a train
        step applying the optimizer more than once a batch runs through faster (`FitSession.epoch_end`)."""
        return False

    def set_model(self, model=None):
        # Keras calls set_model on each entry of fit(callbacks=...). Given the class itself
        # (callbacks=[keras_lr.OneCycle]), `self` is the model and `model` is missing: Python said only
        # "set_model() missing 1 required positional argument".
        if not isinstance(self, EngineCallback):
            raise TypeError(
                "fit(callbacks=...) holds a keras_lr callback class, not a callback: create one, e.g. "
                "callbacks=[keras_lr.OneCycle(max_lr=0.01)], not callbacks=[keras_lr.OneCycle]"
            )
        super().set_model(model)

    def __deepcopy__(self, memo):
        return fresh_copy(self, memo)

    def __getstate__(self):
        # The last fit's session holds the model's traced train function, which does not pickle (Keras's own
        # callbacks pickle after a fit): what the frames read of it after the fit goes instead.
        state = dict(self.__dict__)
        if state.get("_session") is not None:
            state["_session"] = FitRecord(state["_session"])
        return state

    def __repr__(self):
        return config_repr(self)

    @classmethod
    def from_config(cls, config):
        """The callback `get_config()` describes (a flat dict of its arguments)."""
        return cls(**config)

    def _schedule(self):
        """The schedule this callback sets for the fit, or None (it only watches or scales)."""
        return None

    def _refused(self):
        """Called when the session refuses a rate set from outside (`runs_alone`), before the error."""

    def _rate_reader(self):
        """This callback's reader of its schedule's rates, shared with the session (None: the session makes one)."""
        return None

    def _steps_per_epoch(self):
        steps = (getattr(self, "params", None) or {}).get("steps")
        return int(steps) if steps else None

    def on_train_begin(self, logs=None):
        owner = type(self).__name__
        if not hasattr(self, "params"):  # Keras 3.3's CallbackList made without epochs= or steps= sets none
            self.params = None
        joined = self._session
        if isinstance(joined, FitSession):
            joined.settle()  # a fit this one follows at once may have left batch hooks running on Keras's threads
        if joined is not None and self in joined.members and joined.token is self.params and self._listed_twice():
            # The same object twice in one list: every hook would run twice (each plateau reduced twice).
            raise ValueError(
                f"{owner}: this callback is twice in fit's callbacks; pass it once (two {owner}(...) objects "
                f"if two are meant)."
            )
        if joined is not None and self in joined.members and running_session(joined.optimizer) is joined:
            # A fit started from a callback of the fit this one is in: it would take this callback over.
            raise ValueError(
                f"{owner}: this callback is in a fit that is running (of model {joined.model.name!r}), from which "
                f"this fit was started; pass a new {owner}(...) to this one."
            )
        self._reset()
        schedule = self._schedule()
        self._session = FitSession.join(
            self, self.model, self.params, owner, schedule=schedule, replace=self.replaces_optimizer_schedule,
            reader=self._rate_reader(),
        )
        twin = next((m for m in self._session.members if m is not self and type(m) is type(self)), None)
        if twin is not None and schedule is None:  # two schedule callbacks are refused in join
            _warnings.warn(
                f"two {owner} callbacks in one fit: their changes of the rate multiply (each scales it on its "
                f"own); pass one unless that is meant."
            )
        self._check_fit()

    def _listed_twice(self):
        """Whether the CallbackList whose on_train_begin runs holds this callback twice (where it is found: a loop
        of one's own run again with the same CallbackList after an interruption holds it once)."""
        listed = calling_callback_list()
        return listed is None or sum(callback is self for callback in listed.callbacks) > 1

    def _check_fit(self):
        """Warns of what this fit will do that the user may not mean; after the fit's errors are raised."""

    def on_epoch_begin(self, epoch, logs=None):
        self._session.tick()
        self._session.epoch_begin(epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self._session is None or self._session.epoch is None:
            # (fit calls them all: a loop of one's own may not, where the first batch hook failed on None.)
            hooks = "on_train_begin() before the loop and " if self._session is None else ""
            raise ValueError(
                f"{type(self).__name__}: a batch ended before {'training' if hooks else 'any epoch'} began: a loop "
                f"of your own driving the callbacks calls {hooks}on_epoch_begin(epoch) before each epoch's batches "
                f"(the schedule goes in at the first) and on_epoch_end(epoch, logs) after them, as fit does."
            )
        self._session.tick()
        iteration = self._session.batch_end(batch)
        self._after_batch(logs if logs is not None else {})
        self._session.write_logs(self, logs, iteration - 1)

    def _after_batch(self, logs):
        """Called at every batch hook, after the session counted the steps."""

    def on_epoch_end(self, epoch, logs=None):
        session = self._session
        session.tick()
        session.epoch_end()
        self._at_epoch_end(epoch, logs if logs is not None else {})
        session.write_logs(self, logs, max(session.iteration - 1, session.epoch_start))

    def _at_epoch_end(self, epoch, logs):
        """Called at every epoch's end, after the session counted its steps."""

    def on_train_end(self, logs=None):
        if self._session is not None:
            self._session.leave(self)
