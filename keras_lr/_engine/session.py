"""One fit's set-up and tear-down, shared by every keras_lr callback in it.

The first keras_lr callback to begin training opens the fit's `FitSession`;
the others join it. At the first epoch it puts one `FitSchedule` in the
optimizer (and the momentum binding, when the schedule cycles a momentum)
and re-makes the train function, once; at the end of training the last one
to leave puts back what the optimizer held. A later fit whose schedule is
the same (the loop `fit(epochs=e + 1, initial_epoch=e)`) reuses the traced
train function instead of tracing it again.

Keras calls no `on_train_end` when a fit stops with an exception (Ctrl-C in
a notebook, an error in a callback): the schedule stays in the optimizer.
While it is in, the model's `make_train_function`, which Keras calls as
every fit and `train_on_batch` begins, is `_OnNextFit`: the next one closes
the session first (puts back the optimizer's rate and Keras's own train
function), with or without keras_lr callbacks. A rate set from outside
after the fit stopped (`optimizer.learning_rate = 0.01`) becomes the
optimizer's own then.

The session also counts the optimizer's steps from the batch hooks (reading
the device's counter from a hook is slow, stale under JAX and racy with the
torch backend's asynchronous hooks) and is the one writer of
`logs["learning_rate"]` (and of the cycled momentum) for the fit.
"""

import concurrent.futures
import json
import os
import sys
import threading
import warnings
import weakref

import keras
import numpy as np

from keras_lr import _warnings
from keras_lr._engine import optimizers
from keras_lr._engine.distribution import variable_scope
from keras_lr._engine.fit_schedule import FitSchedule, check_traceable
from keras_lr._engine.momentum import MomentumBinding, StepValue, momentum_attribute, plain, why_not_cycled
from keras_lr._engine.readout import Multipliers, momentum_reader, rate_reader
from keras_lr._engine.state import sync
from keras_lr.schedules.sequential import Sequential, Warmup

# The open session of each optimizer: {id(optimizer): session}, while its members hold it.
_OPEN = weakref.WeakValueDictionary()


_MAKE = "make_train_function"
_CONFIG = "get_config"

_HOOK_GETS_FIRST_STEP = tuple(int(part) for part in keras.version().split(".")[:2]) < (3, 11)


def calling_callback_list(hook=False):
    """The `CallbackList` of a fit running a callback hook on this stack, or None.

    Keras calls each callback's hooks from its `CallbackList`, which a callback
    is not given: it is a caller's ``self``, a few frames up. Another caller
    (a training loop of one's own, your own code) gives None. With ``hook``,
    the name of the hook it runs (`"on_train_end"`), or None.
    """
    frame = sys._getframe(1)
    for _ in range(12):
        frame = frame.f_back
        if frame is None:
            return None
        caller = frame.f_locals.get("self")
        if isinstance(caller, keras.callbacks.CallbackList):
            return frame.f_code.co_name if hook else caller
    return None


_KERAS_DIR = os.path.dirname(keras.__file__)


def _fit_frame(model):
    """The frame of Keras's own `fit` of ``model`` nearest on this stack, or None: callbacks driven by hand.

    A training loop of one's own drives the callbacks through a `CallbackList`
    around `train_on_batch` (a GAN's, a reinforcement-learning loop's).
    """
    frame = sys._getframe(1)
    while frame is not None:
        if (frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model
                and frame.f_code.co_filename.startswith(_KERAS_DIR)):
            return frame
        frame = frame.f_back
    return None


def _on_stack(target):
    frame = sys._getframe(1)
    while frame is not None:
        if frame is target:
            return True
        frame = frame.f_back
    return False


def running_session(optimizer):
    """The session of a fit that runs now, outside this call, with ``optimizer``, or None.

    A fit runs now when its `fit` is on the stack: this code was called from
    one of its callbacks (a session left by an interrupted fit, or driven by
    hand, is not).
    """
    session = _OPEN.get(id(optimizer))
    if session is None or session._closed or session._fit_frame is None or not _on_stack(session._fit_frame):
        return None
    return session


def in_running_fit(owner, model, session, called="this was called"):
    """The error for ``model``'s keras_lr fit or range test inside ``session``'s running fit."""
    if session.model is model:
        return ValueError(
            f"{owner}: the model is in a fit that is running ({called} from one of its callbacks), whose rates "
            f"keras_lr sets and this would end; run it before or after that fit."
        )
    return ValueError(
        f"{owner}: the model's optimizer ({type(session.optimizer).__name__}) is also the optimizer of model "
        f"{session.model.name!r}, in a fit that is running ({called} from one of its callbacks) whose rate "
        f"keras_lr sets: the two would set one optimizer's rate. Compile this model with an optimizer of its own "
        f"(model.compile(keras.optimizers.SGD(...), ...))."
    )


def _warn_of_other_optimizers(model, owner):
    """Warns that optimizers the model holds beside `model.optimizer` (a GAN's `d_optimizer`) keep their rates."""
    driven = optimizers.wrapped_by(model.optimizer)  # a user's own optimizer held beside its mixed-precision wrap
    others = [(name, value) for name, value in optimizers.named_other_optimizers(model)
              if not any(value is wrapped for wrapped in driven)]
    if not others:
        return
    many = len(others) > 1
    named = ", ".join(f"{name} ({type(value).__name__})" for name, value in others)
    _warnings.warn(
        f"{owner}: the model holds {'optimizers' if many else 'an optimizer'} beside model.optimizer "
        f"({type(model.optimizer).__name__}): {named}, whose {'rates' if many else 'rate'} keras_lr leaves as "
        f"{'they are' if many else 'it is'}: it sets the rate of model.optimizer alone. Where train_step applies "
        f"{'them' if many else 'it'}, give {'each' if many else 'it'} a schedule of its own "
        f"(keras.optimizers.Adam(keras_lr.schedules.OneCycle(max_lr, total_steps))), or compile each part with its "
        f"optimizer and drive each with its own callbacks around train_on_batch."
    )


def check_built_for(model, owner):
    """Checks, before anything changes, the weights the model trains now against those its optimizer was built for.

    Raises where the optimizer was built, by an earlier fit, without a weight
    the model trains now: Keras's optimizer cannot take it, and a fit after
    unfreezing a base with no compile since, or a recompile with that
    optimizer, fails at its first step ("Unknown variable"; under JAX a
    mismatch of counts, and the failed fit emptied the model's variables).
    Under JAX also where it was built for more weights than the model
    trains now (a layer frozen since): its step takes the optimizer's
    variables one to one, and failed the same way.

    Else warns, once per compile, of layers whose `trainable` changed since
    the model was compiled. Keras applies `trainable` when it makes its train
    function, at the first fit after a compile: that function goes on
    training a layer frozen since, while keras_lr makes the train function
    again for a schedule's fit or the range test, which then train the layers
    as they are now: the same fit would train other weights with keras_lr
    than without. Only where a fit since the compile built the optimizer for
    other weights. Keras 3.15's own warning of this never runs. (Keras 3.3
    keeps no record of it.)
    """
    optimizer = optimizers.inner_optimizer(model.optimizer)
    if not optimizer.built:
        return
    held = getattr(optimizer, "_trainable_variables", None)
    built_for = {id(variable) for variable in held or ()}
    trainable = {id(variable) for variable in model.trainable_variables}
    unknown = [variable for variable in model.trainable_variables if id(variable) not in built_for]
    # (A MultiOptimizer is refused for another reason: `optimizers.check_rate`.)
    if unknown and held is not None and not hasattr(optimizer, "optimizers"):
        raise ValueError(
            f"{owner}: the model's optimizer ({type(optimizer).__name__}) was built, by an earlier fit, for other "
            f"weights than the model trains now ({len(unknown)} it was not built for, such as "
            f"{getattr(unknown[0], 'path', unknown[0].name)!r}: a layer unfrozen since), and a Keras optimizer "
            f"cannot take new weights. Compile with a new optimizer after changing trainable "
            f"(model.compile(keras.optimizers.Adam(...), ...))."
        )
    fewer = held is not None and trainable < built_for and not hasattr(optimizer, "optimizers")
    if fewer and keras.backend.backend() == "jax":
        # JAX's stateless step takes the optimizer's variables for the weights it was built for, one to one: the
        # fit failed at its first step ("corresponding 1:1"), and emptied the model's variables on its way out
        # (predict, save and a fit after a recompile failed: the trained weights were lost).
        frozen = [variable for variable in held if id(variable) not in trainable]
        raise ValueError(
            f"{owner}: the model's optimizer ({type(optimizer).__name__}) was built, by an earlier fit, for "
            f"{len(built_for)} weights, and the model trains {len(trainable)} now ({len(frozen)} frozen since, such "
            f"as {getattr(frozen[0], 'path', frozen[0].name)!r}); under JAX a Keras optimizer trains the weights "
            f"it was built for only, and the fit would fail at its first step, losing the model's weights. Compile "
            f"with a new optimizer after changing trainable (model.compile(keras.optimizers.Adam(...), ...))."
        )
    compiled = getattr(model, "_compiled_trainable_state", None)
    if not compiled or model.__dict__.get("_keras_lr_trainable_warned") is compiled:
        return
    # A fit since the compile built the optimizer for the weights trainable then, and traced with them: before
    # any, Keras's first fit traces with the layers as they are, as keras_lr does (frozen between compile and
    # fit: the same weights train).
    changed = [layer for layer, was in compiled.items() if layer.trainable != was and layer.weights]
    if not changed or built_for == trainable:
        return
    object.__setattr__(model, "_keras_lr_trainable_warned", compiled)  # a new compile records a new dict
    # The outermost layers changed (`base.trainable = False` sets every layer inside it too).
    weights = {layer: {id(w) for w in layer.weights} for layer in changed}
    changed = [layer for layer in changed if not any(other is not layer and weights[layer] < weights[other]
                                                     for other in changed)]
    said = []
    for now, word in ((False, "frozen"), (True, "unfrozen")):
        names = [repr(layer.name) for layer in changed if layer.trainable == now]
        if names:
            listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            plural = len(names) > 1
            said.append(f"layer{'s' if plural else ''} {listed} {'were' if plural else 'was'} {word}")
    _warnings.warn(
        f"{owner}: since the model was compiled, {' and '.join(said)}. Keras applies trainable when it makes its "
        f"train function, at the first fit after a compile, and goes on training the layers as they were then; "
        f"keras_lr's callbacks and lr_find, which make the train function again, train them as they are now. Call "
        f"model.compile(...) again after changing trainable, as Keras asks, so that every fit trains the same "
        f"weights."
    )


def close_interrupted(model):
    """Closes the session of a fit of ``model`` that stopped with an exception, if one is left.

    Called where no fit of keras_lr's runs on the model: a session's start, `lr_find`'s.
    """
    make = model.__dict__.get(_MAKE)
    if isinstance(make, _OnNextFit):
        make.session.abandon()


def _makes_empty_calls(model):
    """Whether fit may end a pass over data of unknown length with a call that finds no batch and counts a step:
    TensorFlow's traced step without XLA (eagerly, or compiled by XLA, and on the other backends, it does not)."""
    return (keras.backend.backend() == "tensorflow" and not getattr(model, "run_eagerly", False)
            and getattr(model, "jit_compile", False) is not True and getattr(model, "steps_per_execution", 1) == 1)


class _OnNextFit:
    """The model's `make_train_function` while a session's schedule is in.

    Keras calls it as every fit and `train_on_batch` begins, before any
    step. The session's own fit called it before the session began; a call
    now comes from the next fit (or `train_on_batch`), so the fit that put
    the schedule in ended without `on_train_end`: it closes that session,
    then makes the train function as Keras would. A session whose callbacks
    are driven by hand around `train_on_batch` (no `fit` opened it) stays
    open for that loop's `train_on_batch`, and the next fit closes it.
    """

    def __init__(self, session, model):
        self.session = session
        self.previous = model.__dict__.get(_MAKE)  # an instance attribute it stands in for, if any
        self.make = self.previous or getattr(type(model), _MAKE).__get__(model)

    def __call__(self, *args, **kwargs):
        session = self.session
        running = running_session(session.optimizer) is session
        caller = sys._getframe(1).f_code
        if caller.co_name == "train_on_batch":
            # In a loop that drives the callbacks by hand, or from a callback of the fit that runs (a replay
            # step): one more step of the session, at its rate.
            if not (session.by_hand or running):
                session.abandon()
            elif running:
                session.replayed()
        elif running and caller.co_name == "fit" and caller.co_filename.startswith(_KERAS_DIR):
            # A fit of the model started from a callback of its own running fit (Keras makes the train function
            # before on_train_begin): taken for the next fit after an interrupted one, it took the schedule out.
            raise in_running_fit("keras_lr", session.model, session, called="this fit was started")
        elif not running:
            session.abandon()
        # (Running, and called from one of its callbacks, make_train_function(force=True) after a change of
        # trainable, say: made with the schedule in, which the fit goes on with.)
        return self.make(*args, **kwargs)

    def remove(self, model):
        if model.__dict__.get(_MAKE) is self:
            if self.previous is None:
                del model.__dict__[_MAKE]
            else:
                object.__setattr__(model, _MAKE, self.previous)


class _ConfigAsCompiled:
    """The optimizer's `get_config` while a session's schedule is in: the config as compiled.

    Keras serializes a learning rate that is a callable by its class, so a
    checkpoint saved during a fit (ModelCheckpoint, or `model.save` after an
    interrupted fit) named keras_lr's FitSchedule and loaded only in a
    process that had imported keras_lr. The optimizer's own rate, a float or
    the schedule it was compiled with, is what the config holds instead.
    """

    def __init__(self, optimizer, fit_schedule):
        self.optimizer, self.fit_schedule = optimizer, fit_schedule
        self.previous = optimizer.__dict__.get(_CONFIG)  # an instance attribute it stands in for, if any

    def __call__(self):
        optimizer = self.optimizer
        inside = optimizer._learning_rate is self.fit_schedule
        if inside:
            optimizer._learning_rate = self.fit_schedule.original
        # The momentum as compiled too: the torch backend's step reads it as a Python float, set each step, so
        # after an interrupted fit the config (and a model saved then) held the cycled one.
        binding = self.fit_schedule.momentum
        cycled = binding is not None and isinstance(getattr(optimizer, binding.attribute, None), StepValue)
        if cycled:
            held = getattr(optimizer, binding.attribute)
            setattr(optimizer, binding.attribute, binding.original)
        try:
            return self.previous() if self.previous is not None else type(optimizer).get_config(optimizer)
        finally:
            if inside:
                optimizer._learning_rate = self.fit_schedule
            if cycled:
                setattr(optimizer, binding.attribute, held)

    @classmethod
    def install(cls, optimizer, fit_schedule):
        if not isinstance(optimizer.__dict__.get(_CONFIG), cls):
            object.__setattr__(optimizer, _CONFIG, cls(optimizer, fit_schedule))

    @staticmethod
    def remove(optimizer):
        current = optimizer.__dict__.get(_CONFIG)
        if isinstance(current, _ConfigAsCompiled):
            if current.previous is None:
                del optimizer.__dict__[_CONFIG]
            else:
                object.__setattr__(optimizer, _CONFIG, current.previous)


def _momentum_bounds(schedule):
    """(lowest, highest) momentum a schedule cycles between, read through keras_lr's joins (`Sequential`,
    `Warmup`), or None."""
    low, high = getattr(schedule, "base_momentum", None), getattr(schedule, "max_momentum", None)
    if low is not None and high is not None:
        return low, high
    if isinstance(schedule, Sequential):
        children = schedule.schedules
    elif isinstance(schedule, Warmup):
        children = [schedule.schedule]
    else:  # (a schedule of one's own with attributes of those names may mean anything by them)
        return None
    bounds = [b for b in map(_momentum_bounds, children) if b is not None]
    return (min(b[0] for b in bounds), max(b[1] for b in bounds)) if bounds else None


def _describe(value):
    """A JSON description of a schedule or rate for comparing fits; None for one that has none.

    A plain callable has none, nor a schedule holding one: two lambdas with the same code, or two
    functions of the same name, can give different rates.
    The class is named with its identity: a notebook cell run again defines a new class
    of the same name, whose code may have changed (the trace kept holds the old one, so
    its identity is not reused while the trace can be).
    """
    if optimizers.is_variable(value):
        return "variable"
    if isinstance(value, float):
        return repr(value)
    if not isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return None
    try:
        # Its attributes as well as its config: a subclass adding an argument often keeps its parent's get_config.
        state = json.dumps(vars(value), sort_keys=True, default=_plain)
    except (TypeError, ValueError):  # a variable, a tensor or a function held: what it gives may change
        return None
    described = None
    with warnings.catch_warnings():
        # Keras warns of serializing a lambda (a nested schedule's), which nobody asked to save here.
        warnings.simplefilter("ignore")
        try:
            # Its config first: Keras's serialize_keras_object imports TensorFlow, where it is installed, to look
            # for its types (about 2 s and its start-up logs in every JAX or torch process that fits).
            described = json.dumps({"class": _kind(value), "config": value.get_config(), "state": state},
                                   sort_keys=True, default=_plain)
        except Exception:  # noqa: BLE001 - a config that is not plain numbers and strings
            try:
                described = json.dumps({"class": _kind(value), "state": state,
                                        "object": keras.saving.serialize_keras_object(value)}, sort_keys=True)
            except Exception:  # noqa: BLE001 - a schedule whose config does not serialize
                return None
    if '"__lambda__"' in described or '"class_name": "function"' in described:
        # A lambda is described by its code, a def'd function by its name alone: not by the globals it reads,
        # which may have changed since, nor (a notebook cell run again) by the code of a function of that name.
        return None
    return described


def _kind(schedule):
    """A schedule's class, named with its identity (a class defined again is another)."""
    return f"{type(schedule).__module__}.{type(schedule).__qualname__} at {id(type(schedule)):#x}"


def _plain(value):
    """A numpy scalar or array as Python numbers, a schedule held as its class and attributes, for json; anything
    else (a variable, a tensor, a function) is not described."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return {"class": _kind(value), "state": vars(value)}
    raise TypeError(f"not plain: {type(value).__name__}")


class _Trace:
    """A traced train function kept for the next fit with the same schedule, and what goes with it.

    The readers come along too: the schedule is the same, so its rates and
    momenta evaluated for the last fit serve the next.
    """

    def __init__(self, key, plain, session):
        # The function traced at the first epoch (under JAX a change of the multiplier traced another since).
        self.key, self.plain, self.function = key, plain, session._traced
        self.fit_schedule, self.binding, self.attribute = session.fit_schedule, session.binding, session._attribute
        self.rate, self.momentum = session._rate, session._momentum


class FitSession:
    """Everything keras_lr changes for one fit, shared by its callbacks."""

    def __init__(self, model, optimizer, token, original):
        self.model = model
        self.optimizer = optimizer
        self._counter = optimizers.step_counter(optimizer)  # batches, also with gradient accumulation
        self.token = token
        self.original = original  # the optimizer's own rate: its Variable or its schedule
        self.members = []
        self.schedule = None
        self.schedule_owner = None
        self.offset = None  # absolute iteration - the schedule's step; set at the first epoch
        self.epoch_offset = self.epoch_first_step = None  # this epoch's (see epoch_begin)
        self.fit_schedule = None
        self.binding = None
        self.multipliers = Multipliers()
        self._rate = None
        self._momentum = None
        if optimizers.is_variable(original):
            self._original_rate = None
        elif isinstance(original, keras.optimizers.schedules.LearningRateSchedule):
            self._original_rate = rate_reader(original)
        else:  # a function of no arguments
            self._original_rate = rate_reader(optimizers.StepFunction(original))
        self._original_value = float(original.numpy()) if optimizers.is_variable(original) else None
        self._plain = None
        self._traced = None
        self._made = None  # the train function this fit put in last (under JAX a change of multiplier makes another)
        self._attribute = None
        self._key_used = None
        self._warned_raise = False  # once per fit: a rate set from outside raised the schedule
        self._warned_still = False  # once per fit: the optimizer took no step (or 2 and more) a batch in an epoch
        # A LossScaleOptimizer skips a step whose gradients overflowed without counting it: a short epoch can
        # skip every step (its loss scale halving from 2**15).
        self._skips_steps = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        self._closed = False
        self._on_next_fit = None  # the model's make_train_function while the schedule is in
        # The fit that opened it, while it runs: a fit after one that stopped with an exception is another (even
        # given the same CallbackList, whose params may be None). None: callbacks driven by a loop of one's own.
        self._fit_frame = _fit_frame(model)
        listed = calling_callback_list()
        self._listed = None if listed is None else weakref.ref(listed)  # (see `settle`)
        self.by_hand = self._fit_frame is None  # (see _OnNextFit)
        self._hooks = 0  # the members' hooks so far: a rate set after the last one came after the fit
        self._set_late = None  # (rate, hooks then) of the last rate set from outside
        self._after_fit = None  # a rate set from outside in on_train_end: the optimizer's own after the fit
        # Steps: the optimizer's counter at each epoch's start, and the steps the hooks
        # counted since (read at the first epoch, not now: BackupAndRestore puts back a
        # checkpoint in its on_train_begin).
        self.start_iteration = None
        self.epoch = None
        self.epoch_start = None
        self.done = 0
        self.steps = None
        self._hook_lag = 0  # what to add to a batch hook's index to get the last step it ended
        self._skipped = 0  # the steps of this epoch a LossScaleOptimizer skipped, as of the last batch hook
        self._reads_skips = keras.backend.backend() != "jax"

    # Joining and leaving.

    @classmethod
    def join(cls, member, model, params, owner, schedule=None, replace=False, reader=None):
        """The fit's session, opened by its first member; raises before changing anything.

        With a ``schedule`` the member sets the fit's rate: the optimizer must
        hold a plain rate (unless ``replace``: a schedule it holds is replaced
        for the fit) and no other member may set one. ``reader``: the member's
        own `readout.rate_reader` of it, shared.
        """
        optimizer = optimizers.optimizer_of(model, owner)
        session = _OPEN.get(id(optimizer))
        # (A session the member is in already is one a loop of one's own left, interrupted, and runs again with
        # the same CallbackList, whose params are the token: the same object twice in one list was refused.)
        if session is None or session.token is not params or session.optimizer is not optimizer or \
                member in session.members:
            running = running_session(optimizer)
            if running is not None:  # not a fit that was interrupted: its schedule stays
                raise in_running_fit(owner, model, running, called="this fit was started")
            check_built_for(model, owner)
            close_interrupted(model)
            current = getattr(optimizer, "_learning_rate", None)
            if isinstance(current, FitSchedule):  # left behind by a fit that was interrupted
                _take_out(optimizer, current)
                current = current.original
            optimizers.check_rate(owner, optimizer, current)
            session = cls(model, optimizer, params, current)
            _warn_of_other_optimizers(model, owner)
        alone = next((m for m in (*session.members, member) if m.runs_alone), None)
        if alone is not None and session.members:
            other = next(m for m in (*session.members, member) if m is not alone)
            raise ValueError(
                f"{owner}: {type(alone).__name__} runs the range test, which must be the only keras_lr callback in "
                f"its fit: {type(other).__name__} would change the rates it records. Run the test on its own "
                f"(keras_lr.lr_find), then train with {type(other).__name__}."
            )
        if schedule is not None:
            if not replace and not optimizers.is_variable(session.original):
                raise ValueError(
                    f"{owner}: the optimizer already has a learning-rate schedule "
                    f"({type(session.original).__name__}) that this callback would overwrite. "
                    f"Compile with a float learning rate and pass the schedule to the callback "
                    f"instead, e.g. keras_lr.Scheduler(schedule)."
                )
            if session.schedule_owner is not None:
                raise ValueError(
                    f"{owner}: another keras_lr callback ({type(session.schedule_owner).__name__}) already "
                    f"sets the learning rate in this fit; use one schedule callback (join schedules with "
                    f"keras_lr.schedules.Sequential)."
                )
            session.schedule, session.schedule_owner = schedule, member
            session._rate = reader
        _OPEN[id(optimizer)] = session
        session.members.append(member)
        steps = (params or {}).get("steps")
        session.steps = int(steps) if steps else None
        # Keras before 3.11 gives a batch hook the index of the first step of the execution
        # it ends (3.11 and later: the last), with steps_per_execution > 1.
        session._hook_lag = (int(model.steps_per_execution or 1) - 1) if _HOOK_GETS_FIRST_STEP else 0
        return session

    def leave(self, member):
        """The last member out puts back what the optimizer held. Returns True then."""
        if member in self.members:
            self.members.remove(member)
        if self.members:
            return False
        if not self._closed:
            self._close()
        return True

    def abandon(self):
        """Closes the session of a fit that stopped with an exception (no member left in `on_train_end`).

        Only ever called when no fit of this session runs. A rate set from
        outside after the members' last hook was set after the fit stopped:
        it becomes the optimizer's own.
        """
        self.settle()
        if self._closed:
            return
        self.members.clear()
        late = self._set_late
        self._close()
        if late is not None and late[1] == self._hooks and optimizers.is_variable(self.original):
            self.original.assign(late[0])

    def settle(self):
        """Waits for the batch hooks Keras still runs from the CallbackList of this session's fit.

        Under JAX and PyTorch Keras runs async-safe callbacks' batch hooks on
        its threads, behind the steps, and waits for them at each epoch's
        end: a fit stopped within an epoch may leave the last few running
        into a fit started at once (a retry, a loop of one's own run again),
        where they ran on its session (one before its first epoch failed,
        in a loop of one's own, with the same CallbackList, at its first
        batch). Called from `on_train_begin` and where an interrupted
        session is closed; on one of those threads (a callback's hook
        calling train_on_batch) it does not wait, which would be for itself.
        """
        listed = self._listed() if self._listed is not None else None
        pending = list(getattr(listed, "_futures", None) or ())  # (none where Keras runs every hook in line)
        executor = getattr(listed, "_executor", None)
        if pending and threading.current_thread() not in getattr(executor, "_threads", ()):
            # A hook's error stays in its future: Keras raises it from the same list run again, not from a new fit's.
            concurrent.futures.wait(pending)

    def tick(self):
        """A member's hook ran (see `abandon`)."""
        self._hooks += 1

    def _close(self):
        self._closed = True
        self._fit_frame = None  # (it holds the fit's locals)
        if self._on_next_fit is not None:
            self._on_next_fit.remove(self.model)
            self._on_next_fit = None
        if _OPEN.get(id(self.optimizer)) is self:
            del _OPEN[id(self.optimizer)]
        if self.fit_schedule is not None:
            _take_out(self.optimizer, self.fit_schedule)  # a float rate holds the adapted one already (`_folds`)
            self._keep_trace()
        if self._after_fit is not None:
            self.original.assign(self._after_fit)

    # The first epoch: the schedule goes in.

    def epoch_begin(self, epoch):
        if self.epoch == epoch:
            return
        # The device's counter is exact between epochs on every backend (JAX syncs its state
        # at each epoch's end); within an epoch the hooks count.
        self.epoch_start = int(self._counter.numpy())
        self.epoch, self.done, self._skipped = epoch, 0, 0
        if self.start_iteration is None:
            self._put_in(epoch)
        # The epoch's first step as the schedule counts it, and the offset it ran with (`epoch_end` may move it).
        self.epoch_offset = self.offset
        self.epoch_first_step = None if self.offset is None else self.epoch_start - self.offset

    def epoch_end(self):
        """At an epoch's end: the steps it ran, from the device's counter.

        It can be more than the batch hooks counted (TensorFlow without XLA
        ends an epoch of unknown length with a call that finds no batch and
        counts a step; the schedule's offset holds its place) or fewer (a `LossScaleOptimizer` skips a
        step whose gradients overflowed, and its counter stays: the schedule
        did not move either).
        """
        counted = self.done  # what the batch hooks counted (the members after the first see the counter's)
        self.done = int(self._counter.numpy()) - self.epoch_start
        self._skipped = 0
        if (self.done == counted + 1 and counted and self.steps is None and self.fit_schedule is not None
                and self.schedule is not None and not self._skips_steps and _makes_empty_calls(self.model)):
            # TensorFlow without XLA ends each pass over data of unknown length (a filter, from_generator,
            # TFRecordDataset) with a call that finds no batch: it trains nothing but counts a step. The schedule
            # holds its place, as Keras's own would not: the cycle moved a step on at each epoch's end and
            # reached its final rate that many steps early. (Keras 3.3 makes one with steps_per_execution > 1
            # too, its hooks then counting otherwise: not read there.)
            self.offset += 1
            self.fit_schedule.offset.assign(self.offset)
        if counted and not self.done and not self._warned_still and not self._skips_steps and self.model.trainable_variables:
            # (A model with nothing to train: Keras warns of that itself.)
            # Keras's DCGAN example compiles without an optimizer and steps its own two: model.optimizer is
            # Keras's default RMSprop, which never steps, and every rate set and logged here is untrained.
            self._warned_still = True
            _warnings.warn(
                f"{type(self.members[0]).__name__}: the model's optimizer ({type(self.model.optimizer).__name__}) "
                f"took no step in epoch {self.epoch + 1}, where fit ran {counted} batches: the train step does not "
                f"apply model.optimizer (a train_step with optimizers of its own, as a GAN's compiled without "
                f"one), so the rates keras_lr sets and logs are not the ones trained at. keras_lr drives "
                f"model.optimizer only: compile with the optimizer to drive, and apply it in train_step."
            )
        elif counted >= 2 and self.done >= 2 * counted and not self._warned_still and self.schedule is not None:
            # (An epoch of unknown length runs one step more than its hooks: not this.) A GAN-like train_step
            # applying model.optimizer twice: OneCycle, sized in batches, ended its cycle halfway through; one of
            # its own length in steps trains as asked, but is logged at the batch's count. (Not for adaptive
            # callbacks alone: their cuts apply from the next step.)
            self._warned_still = True
            sized = next((member for member in self.members if member._sized_in_batches()), None)
            owner = sized or self.schedule_owner
            what = (f"so a schedule sized in batches (from fit) runs {self.done / counted:.3g}x as fast, and the "
                    f"rates logged each batch are not the ones trained at. Give the schedule its length in "
                    f"optimizer steps (OneCycle's total_steps, say), or apply model.optimizer once a batch."
                    if sized is not None else
                    "so the rates logged each batch are the schedule's at the batch's count, not at the optimizer's "
                    "step it trained at (the schedule itself runs in optimizer steps, as its length is given).")
            _warnings.warn(
                f"{type(owner).__name__}: the model's optimizer ({type(self.model.optimizer).__name__}) "
                f"took {self.done} steps in epoch {self.epoch + 1}, where fit ran {counted} batches: the train step "
                f"applies it more than once a batch, and a schedule reads its step counter, {what}"
            )

    def _put_in(self, epoch):
        if self.schedule is not None and keras.backend.backend() != "torch":
            # Before anything changes; see check_traceable.
            check_traceable(self.schedule, symbolic_only=keras.backend.backend() == "tensorflow")
        self.start_iteration = self.epoch_start
        if self.schedule_owner is not None and not self.schedule_owner.resumes_at_initial_epoch:
            epoch = 0
        if epoch and self.steps is None and self.schedule is not None:
            raise ValueError(
                f"{type(self.schedule_owner).__name__}: cannot place the schedule at initial_epoch={epoch} "
                f"because the steps per epoch are unknown; pass steps_per_epoch to fit."
            )
        self.offset = self.start_iteration - epoch * (self.steps or 0)
        owner = self.schedule_owner
        if epoch and self.steps and not self.start_iteration and owner is not None and owner.warns_of_fresh_resume:
            _warnings.warn(
                f"{type(owner).__name__}: this fit begins at initial_epoch={epoch} with an optimizer that has taken "
                f"no step, so the schedule is placed as a resumed run's, {epoch * self.steps} steps in: its first "
                f"{epoch * self.steps} steps (a warm-up, a cycle's rise) are skipped. A new stage (fine-tuning "
                f"after a recompile, as TensorFlow's transfer-learning tutorial continues the epochs with "
                f"initial_epoch) gets a schedule of its own with initial_epoch=0; resuming from weights saved "
                f"alone, this placing is the one wanted."
            )
        if self.schedule is not None and optimizers.is_variable(self.original):
            now = float(self.original.numpy())
            if now != self._original_value and self._original_value > 0:
                # A callback before ours (Keras's LearningRateScheduler) set the rate this epoch:
                # a change of the multiplier, as its later changes are.
                self.original.assign(self._original_value)
                self._refuse_outside(now)
                self._check_raise(now, self._original_value, "the optimizer was compiled with")
                self.multipliers.set(now / self._original_value, self.start_iteration)
        elif self.schedule is None and optimizers.is_variable(self.original):
            now = float(self.original.numpy())
            if now != self._original_value:
                # No schedule: a rate set before the first step (Keras's LearningRateScheduler listed first, a
                # callback's on_train_begin) is this fit's own rate, the base of the multipliers to come.
                self._original_value = now
        key = self._key()
        trace = self._reusable_trace(key)
        if trace is not None:
            self.fit_schedule, self.binding, self._attribute = trace.fit_schedule, trace.binding, trace.attribute
            self._rate, self._momentum = trace.rate, trace.momentum
            if self.binding is not None:  # the momentum to put back is the optimizer's now, not the last fit's
                self.binding.original = plain(getattr(self.optimizer, self._attribute))
        else:
            self._attribute = self._read_schedule()
            with variable_scope(self.model):  # mirrored like the optimizer's under tf.distribute
                self.fit_schedule = FitSchedule(self.original, self._counter)
                self.binding = MomentumBinding(self.optimizer, self._attribute) if self._attribute else None
        self.fit_schedule.original = self.original
        self.fit_schedule.schedule = self.schedule
        self.fit_schedule.momentum = self.binding
        self.fit_schedule.on_assign = self.set_rate
        self.fit_schedule.eager_rate = self._eager_rate if keras.backend.backend() == "torch" else None
        self.fit_schedule.offset.assign(self.offset)
        self.fit_schedule.multiplier.assign(1.0 if self._folds else self.multipliers.current)
        self.optimizer._learning_rate = self.fit_schedule
        _ConfigAsCompiled.install(self.optimizer, self.fit_schedule)
        if self.binding is not None:
            self.binding.install()
        self._plain = self.model.train_function
        if trace is not None:
            self.model.train_function = trace.function
        else:
            # fit made its train function before the callbacks began: make it again, once.
            self._remake()
        self._traced = self.model.train_function
        self._made = self._traced
        self._key_used = key
        self._on_next_fit = _OnNextFit(self, self.model)
        object.__setattr__(self.model, _MAKE, self._on_next_fit)

    @property
    def counter(self):
        """The variable the fit's rate is evaluated at: the optimizer's batches."""
        return self._counter

    @property
    def cycles_momentum(self):
        """Whether the optimizer's momentum follows the schedule's in this fit."""
        return self._attribute is not None

    def _read_schedule(self):
        """Readers of the schedule's rates and momenta; returns the optimizer attribute the momentum drives."""
        if self.schedule is None:
            return None
        self._rate = self._rate or rate_reader(self.schedule)
        self._momentum = momentum_reader(self.schedule)
        if self._momentum is None:
            return None
        attribute = momentum_attribute(self.optimizer)
        owner, name = type(self.schedule_owner).__name__, type(self.optimizer).__name__
        owner = getattr(self.schedule_owner, "owner_name", None) or owner
        hint = getattr(self.schedule_owner, "momentum_hint", None)  # one the user can follow where it runs
        where = getattr(self.schedule_owner, "momentum_where", "")  # where base_momentum goes, if not to the owner
        why = (
            f"{name} has no momentum to cycle (SGD and RMSprop need a non-zero `momentum`; "
            f"Adam-family optimizers take `beta_1`)"
            if attribute is None
            else why_not_cycled(self.optimizer, attribute)
        )
        if why is not None:
            self._momentum = None
            remedy = hint[0].upper() + hint[1:] if hint else f"Pass base_momentum=None{where} to silence this"
            _warnings.warn(f"{owner}: {why}; only the learning rate is scheduled. {remedy}.")
            return None
        compiled = float(plain(getattr(self.optimizer, attribute)))
        low, high = _momentum_bounds(self.schedule) or (None, None)
        if low is not None and high is not None and not low - 1e-6 <= compiled <= high + 1e-6:
            # As PyTorch's schedulers do, but TF Addons and Keras 2's CLR callbacks never touched it (a GAN's 0.5).
            _warnings.warn(
                f"{owner}: cycles {name}'s {attribute} between {low:g} and {high:g}, in place of the {compiled:g} it "
                f"was compiled with; "
                + (hint or f"pass base_momentum=None{where} to keep {compiled:g}, or base_momentum and max_momentum "
                           f"around it")
                + "."
            )
        return attribute

    def _remake(self):
        """Makes the model's train function again, tracing the schedule as it is now.

        JAX caches a trace by the function it jits, and Keras jits the bound
        method `model.train_step`: equal to the one of a train function traced
        before (with another rate, or none), whose trace JAX would reuse while
        that function lives. A step function of the fit's own keeps them apart.

        Under a JAX distribution (`keras.distribution.DataParallel`, ...)
        Keras reads every variable's sharding to make the function, and in
        the middle of an epoch `fit` has emptied the variables into its own
        state: they are synced back first.
        """
        if keras.backend.backend() == "jax":
            model = self.model
            sync(model)
            train_step = type(model).train_step

            def fit_train_step(state, data):
                return train_step(model, state, data)

            object.__setattr__(model, "train_step", fit_train_step)
        make = self.model.make_train_function
        (make.make if isinstance(make, _OnNextFit) else make)(force=True)
        self._made = self.model.train_function  # the one before goes: it is no longer the model's

    def _key(self):
        """What a traced train function depends on besides variables; None: never reused.

        Under JAX a jitted step reads the offset and the multiplier once, when
        traced: they are part of what it depends on (in a loop of
        `fit(epochs=e + 1, initial_epoch=e)` the offset is the same every call).
        """
        source = _describe(self.schedule if self.schedule is not None else self.original)
        if source is None:
            return None
        model = self.model
        key = (source, id(self.optimizer), model.steps_per_execution, str(model.jit_compile))
        # The weights it trains, traced in: a layer frozen since the last fit kept training in the trace reused.
        key += (tuple(id(variable) for variable in model.trainable_variables),)
        if keras.backend.backend() == "jax":
            # Only what the step reads: the offset with a schedule of the fit's own, the multiplier unless it
            # goes into the optimizer's rate Variable (`_folds`). A float rate's plain fits in a loop, each at
            # another offset, were traced again every time.
            if self.schedule is not None:
                key += (self.offset,)
            if not self._folds:
                key += (self.multipliers.current,)
        return key

    def _reusable_trace(self, key):
        trace = getattr(self.model, "_keras_lr_trace", None)
        if key is None or trace is None or trace.key != key or trace.plain is not self.model.train_function:
            return None
        return trace

    def _keep_trace(self):
        self.model.__dict__.pop("train_step", None)  # the class's own again (see _remake)
        current = self.model.train_function
        if current is not self._plain and current is not self._made:
            # Not a function of this fit's: after an interrupted fit, compile() cleared it or lr_find put back
            # the model's own. The plain one of before, traced with the old optimizer or loss, is not put back.
            return
        self.model.train_function = self._plain
        if self._key_used is not None and self._plain is not None:
            # Not a tracked attribute: it holds keras_lr's own variables, not the model's.
            object.__setattr__(self.model, "_keras_lr_trace", _Trace(self._key_used, self._plain, self))

    # Counting steps from the hooks.

    def batch_end(self, batch):
        """The optimizer's step count after ``batch`` (not the latest: hooks may run out of order)."""
        # Keras may report an index past the epoch's end for its last, shorter execution.
        done = batch + self._hook_lag + 1
        done = done if self.steps is None else min(done, self.steps)
        self.done = max(self.done, done)
        if self._skips_steps and self._reads_skips:
            # A LossScaleOptimizer skips a step whose gradients overflowed, and its counter stays: counted
            # from the hooks, a rate cut landed steps late on PyTorch (whose eager step reads the rate at the
            # counter) and events and logs named the wrong steps. A scalar read (not under JAX, where it
            # syncs every variable; its step reads the multiplier, not a table, so it trains right).
            self._skipped = max(0, self.epoch_start + self.done - int(self._counter.numpy()))
        return self.epoch_start + done - self._skipped

    def replayed(self):
        """A callback of the running fit is about to run one step more (`train_on_batch`): the fit's later
        batches are each one step further on the counter (their logs and events named the step before until the
        epoch's end, where the counter is read). (Before the first epoch, that reads the counter.)"""
        if self.epoch_start is not None:
            self.epoch_start += 1

    @property
    def iteration(self):
        """The optimizer's step counter, as counted from the hooks (less the steps a LossScaleOptimizer skipped,
        read from the device, except under JAX): the next step to run."""
        return self.epoch_start + self.done - self._skipped

    # The rates.

    def source_rate_at(self, iteration):
        """The rate before the multiplier at absolute optimizer ``iteration``."""
        if self.schedule is not None:
            return self._rate(iteration - self.offset)
        if self._original_rate is None:
            return self._original_value
        return self._original_rate(iteration)

    def rate_at(self, iteration):
        """The effective rate at absolute optimizer ``iteration``."""
        iteration = max(int(iteration), 0)
        return self.source_rate_at(iteration) * self.multipliers.at(iteration)

    def momentum_at(self, iteration):
        """The cycled momentum at absolute ``iteration``; None when none is cycled."""
        if self._momentum is None:
            return None
        return self._momentum(max(int(iteration), 0) - self.offset)

    def _eager_rate(self):
        """The rate of the step about to run, in Python (for an eagerly run step)."""
        iteration = int(self._counter.numpy())
        if self.binding is not None:
            self.binding.update(self.momentum_at(iteration))
        return self.rate_at(iteration)

    @property
    def _folds(self):
        """Whether the multiplier goes into the optimizer's own rate Variable (a float rate, no schedule).

        A checkpoint saved during the fit then holds the adapted rate, as with
        Keras's `ReduceLROnPlateau`, which writes it there: with the multiplier
        in a variable of the fit's own, a fit resumed from the checkpoint lost
        every reduction (Keras's own too, once any keras_lr callback was in the fit).
        """
        return self.schedule is None and optimizers.is_variable(self.original)

    def refresh_rate(self):
        """Writes the rate of the multiplier now into the optimizer's rate Variable (see `_folds`), as
        after a rollback that put back an earlier one."""
        if self._folds and self.fit_schedule is not None:
            sync(self.model)  # under JAX, the next step then starts from what is assigned here
            self.original.assign(self._original_value * self.multipliers.current)

    def set_multiplier(self, value, iteration):
        """Sets the multiplier from absolute optimizer ``iteration`` on."""
        self.multipliers.set(value, iteration)
        if self._folds:
            self.refresh_rate()  # a variable of the model's state: no trace to make again under JAX
            return
        self.fit_schedule.multiplier.assign(float(value))
        if keras.backend.backend() == "jax":
            # A jitted step reads variables outside the model's state once, when traced.
            self._remake()

    def set_rate(self, rate):
        """A rate set from outside (`optimizer.learning_rate = rate`): from the next step on."""
        iteration = self.iteration
        source = self.source_rate_at(iteration)
        scheduled = source * self.multipliers.current
        # A rate set by you after the fit stopped (Ctrl-C), not by a callback of the fit: the optimizer's own
        # when the session is closed (`abandon`), also where it is the rate the schedule stopped at ("go on at
        # this rate"). A callback's (Keras's LearningRateScheduler at each epoch's start) is not, even where
        # the fit then stops before another hook: the next fit would have trained at the schedule's rate.
        if calling_callback_list(hook=True) == "on_train_end" and optimizers.is_variable(self.original):
            # No step of this fit is left for a multiplier: a rate set as training ends (a callback listed before
            # the keras_lr ones, "this stage done, drop the rate") is the optimizer's own after it, as it is for
            # a callback listed after them, which sets it once the schedule is out.
            self._after_fit = float(rate)
            return
        late = None if calling_callback_list() is not None else (float(rate), self._hooks)
        if abs(rate - scheduled) <= 1e-5 * abs(scheduled):  # float32 rounding, its exp and pow too
            self._set_late = late or self._set_late
            return  # the rate it has (a LearningRateScheduler returning lr): nothing changes
        self._refuse_outside(rate)
        self._set_late = late
        if source > 0:
            self._check_raise(rate, scheduled, f"{type(self.schedule_owner).__name__}'s schedule gives")
        self.set_multiplier(rate / source if source > 0 else 1.0, iteration)

    def _refuse_outside(self, rate):
        """A rate set from outside the range test's fit would make its curve a lie: an error, after the
        session is closed and the test has put back what it changed."""
        owner = self.schedule_owner
        if owner is not None and owner.runs_alone:
            self.abandon()
            owner._refused()
            raise ValueError(
                f"{type(owner).__name__}: another callback set the learning rate to {rate:.4g} during the range "
                f"test (Keras's LearningRateScheduler or ReduceLROnPlateau, say), so the test would record losses "
                f"at rates it did not train at; leave rate callbacks out of the test's fit."
            )

    def _check_raise(self, rate, reference, what):
        """Warns, once a fit, when a rate set from outside is over twice the rate it is a multiplier of
        (what a keras_lr schedule gives, or at the first epoch the rate compiled in): a callback that
        sets absolute rates (Keras's LearningRateScheduler returning fixed values) would scale the
        schedule by the ratio, its peak with it. Lowering it (`lr * 0.5`, Keras's ReduceLROnPlateau)
        is what the multiplier is for. ``what`` names the reference in the message."""
        if self.schedule is None or self._warned_raise or not rate > 2.0 * reference:
            return
        self._warned_raise = True
        owner = type(self.schedule_owner).__name__
        _warnings.warn(
            f"{owner}: another callback set the learning rate to {rate:.4g} where {what} "
            f"{reference:.4g}; keras_lr reads that as a multiplier of {rate / reference:.3g} on {owner}'s rates "
            f"from the next step on. If that callback sets absolute rates (a LearningRateScheduler returning "
            f"fixed values), keep one of the two: both set the rate (a raise you meant, lr * 3, is fine)."
        )

    def write_logs(self, member, logs, iteration):
        """The rate (and momentum) applied at ``iteration``, in ``logs``: the first member writes them, for the
        callbacks after it, and the last again, so that one listed after Keras's ReduceLROnPlateau (which
        writes the next step's rate there) has the last word."""
        if self.members and member in (self.members[0], self.members[-1]):
            self.log_rate(logs, iteration)

    def log_rate(self, logs, iteration):
        """Writes the rate (and momentum) applied at ``iteration`` into ``logs``."""
        if logs is None or self.fit_schedule is None:
            return
        logs["learning_rate"] = self.rate_at(iteration)
        momentum = self.momentum_at(iteration)
        if momentum is not None:
            logs[self.binding.attribute] = momentum


def _take_out(optimizer, fit_schedule):
    """Puts back the optimizer's own rate and momentum."""
    if fit_schedule.momentum is not None:
        fit_schedule.momentum.restore()
    if optimizer._learning_rate is fit_schedule:
        optimizer._learning_rate = fit_schedule.original
    _ConfigAsCompiled.remove(optimizer)
    fit_schedule.on_assign = None
