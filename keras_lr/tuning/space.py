"""The learning rate as a KerasTuner hyperparameter, and the schedules a search chooses from.

`learning_rate(hp)` is the rate; `SCHEDULES` names every `lr_schedule`
choice, and for each one `declare` registers its own hyperparameters
(inside `hp.conditional_scope`) and `callbacks` gives the keras_lr callbacks
that run it for one trial.
"""

import contextvars
import difflib
import math
import numbers

import keras
import keras_tuner

from keras_lr import _validation as v
from keras_lr._engine.recommendation import Recommendation
from keras_lr import callbacks as lr_callbacks
from keras_lr import schedules as lr_schedules
from keras_lr.tuning import _kerastuner

# The rate must lie in (LOWEST, HIGHEST].
LOWEST, HIGHEST = 1e-7, 10.0

# Keras's default rate for Adam, RMSprop, Adamax, Nadam, Lion and friends.
KERAS_DEFAULT = 1e-3

# What `learning_rate(hp)` must know while an `LRHyperModel` builds a model:
# the bounds a range test narrowed the rate to, and where to record its name.
_building = contextvars.ContextVar("keras_lr_tuning_build", default=None)


def _looks_like_a_rate(name):
    """A number, or a string that reads as one ("1e-4"), given where the rate's name goes."""
    if isinstance(name, bool):
        return False
    if isinstance(name, numbers.Number):
        return True
    try:
        float(name)
    except (TypeError, ValueError):
        return False
    return True


def learning_rate(hp, name="learning_rate", min_value=1e-5, max_value=1.0, default=KERAS_DEFAULT, step=None):
    """The learning rate as a log-sampled `hp.Float`, with Keras's 0.001 as its default.

    `hp.Float(name, min_value, max_value, sampling="log")` alone defaults to
    its minimum, and the default is what KerasTuner's `GridSearch` (and
    keras_lr's tuners, for every search) run first; here it is Keras's own
    default rate, so a search shows what it gained over it.

    Call it in the `build_model(hp)` of an `LRHyperModel` (or any
    hypermodel) where the optimizer is created. Inside an `LRHyperModel`
    with a range test (`finder=`), the bounds are the ones the test
    supports; the default stays 0.001.

    Example:

    >>> import keras_tuner
    >>> hp = keras_tuner.HyperParameters()
    >>> learning_rate(hp)
    0.001
    >>> hp.space[0].sampling, hp.space[0].min_value, hp.space[0].max_value
    ('log', 1e-05, 1.0)

    Args:
        hp: The trial's `keras_tuner.HyperParameters`.
        name: String. The hyperparameter's name.
        min_value: Float in (1e-7, 10]. Lowest rate searched.
        max_value: Float in (1e-7, 10], > `min_value`. Highest rate searched.
        default: Float in [min_value, max_value]. The rate of the defaults
            trial (Keras's 0.001 unless you change it).
        step: Float > 1 or None. With a step the rates are
            `min_value * step ** k` (what `GridSearch` enumerates), e.g. 10
            for one rate per decade; None samples any rate in the range.
            The default need not be one of them: the defaults trial runs it
            (0.001 with `step=3` from 1e-5), the search the grid's.

    Returns:
        The trial's learning rate, a float.

    Raises:
        ValueError: for a name that is not a non-empty string, a rate outside
            (1e-7, 10], `min_value >= max_value`, a default outside the
            bounds, or a name declared before with another default or as a
            hyperparameter of another kind (or, in an `LRHyperModel`'s
            `build_model`, with other bounds in the same build, or in the
            same conditional scope as an earlier build of the search: a
            `keras_tuner.errors.FatalValueError`, which stops the search).
    """
    owner = "learning_rate"
    if not isinstance(hp, keras_tuner.HyperParameters):
        v._fail(owner, "hp", "KerasTuner's HyperParameters (the hp build_model receives)", hp)
    if _looks_like_a_rate(name):
        # KerasTuner's habit, hp.Float("learning_rate", 1e-4, 1e-1): here the second argument is the name.
        raise ValueError(
            f"{owner}: name must be the hyperparameter's name, a string; received name={name!r}, "
            f"{'a number' if isinstance(name, numbers.Number) else 'which reads as a number'}: the bounds go by "
            f"keyword, e.g. learning_rate(hp, min_value=1e-4, max_value=0.1)"
        )
    if not isinstance(name, str) or not name:
        raise ValueError(f"{owner}: name must be a non-empty string; received name={name!r}")
    min_value = v.check_number(owner, "min_value", min_value, low=LOWEST, high=HIGHEST, low_open=True)
    max_value = v.check_number(owner, "max_value", max_value, low=LOWEST, high=HIGHEST, low_open=True)
    if not min_value < max_value:
        raise ValueError(
            f"{owner}: min_value must be < max_value; received min_value={min_value!r}, max_value={max_value!r}"
        )
    default = v.check_number(owner, "default", default)
    if not min_value <= default <= max_value:
        keras_default = " (Keras's 0.001, taken when default is not given: pass one within the bounds)"
        raise ValueError(
            f"{owner}: default must lie in [min_value, max_value] = [{min_value:g}, {max_value:g}]; "
            f"received default={default!r}" + (keras_default if default == KERAS_DEFAULT else "")
        )
    if step is not None:
        step = v.check_number(owner, "step", step, low=1.0, low_open=True)
    existing = _kerastuner.find_hp(hp, name)
    building = _building.get()
    settings = (min_value, max_value, step, default)
    # Declared before an LRHyperModel's build_model ran, with other settings: by the tuner's hyperparameters=, to
    # fix or narrow the rate, which KerasTuner lets win over what build_model declares (its earlier builds
    # declared this call's settings).
    given = (existing is not None and building is not None and name in building.declared_before
             and name not in building.declared_now)
    # Within an LRHyperModel's build, a second call of this build is compared with its first. The space's own
    # bounds are no guide: a range test narrows them (build_model(best_hp) after a search with finder=), and
    # KerasTuner keeps one hyperparameter per name and condition (a rate per optimizer, each in its scope).
    # The conditional scope it is declared in: one name may be a rate per optimizer, each with its bounds.
    scope = [[condition.name, list(condition.values)]
             for condition in getattr(hp, "_conditions", []) if hasattr(condition, "values")]
    if building is not None and name not in building.declared_now:
        # Its first call in this build, compared with the first build's in the same conditional scope: bounds
        # that depend on another hyperparameter (an SGD's wider than an Adam's) were silently the first build's
        # for every trial, and another default failed each trial that declared it.
        earlier = building.declared_first.setdefault((name, repr(scope)), settings)
        if earlier != settings:
            raise keras_tuner.errors.FatalValueError(
                f"{owner}: {name!r} was declared with {_settings_text(earlier)} in an earlier build of this "
                f"search, and with {_settings_text(settings)} in this one (settings that depend on another "
                f"hyperparameter?); KerasTuner keeps the first declaration for every trial. Declare each in a "
                f"conditional scope of its own (with hp.conditional_scope('optimizer', ['sgd']): "
                f"learning_rate(hp, ...)), or give each its own name. (A hypermodel reused to resume another "
                f"search with KerasTuner's own tuner: make a new one for it.)"
            )
    first = settings if building is None else building.declared_now.setdefault(name, settings)
    if existing is not None and (getattr(existing, "sampling", None) != "log" or existing.default != default
                                 or first != settings) and not (given and building.finder is None):
        # KerasTuner keeps a name's first declaration, and would ignore this call's bounds and default.
        if first == settings:  # another kind of hyperparameter, or another default
            first = tuple(getattr(existing, key, None) for key in ("min_value", "max_value", "step", "default"))
        declared = _settings_text(first)
        if isinstance(existing, keras_tuner.engine.hyperparameters.Fixed):  # no bounds to show
            declared = f"hp.Fixed at {existing.value!r}"
        elif isinstance(existing, keras_tuner.engine.hyperparameters.Choice):
            declared = f"hp.Choice of {list(existing.values)!r}, default={existing.default!r}"
        if given:
            raise keras_tuner.errors.FatalValueError(
                f"LRHyperModel(finder=...) narrows the rate learning_rate(hp) declares, but the tuner's "
                f"hyperparameters= declares {name!r} already ({declared}), and KerasTuner would keep "
                f"that: leave it out of hyperparameters=, or search without finder=."
            )
        raise ValueError(
            f"{owner}: {name!r} is already a hyperparameter of this search, declared with other settings "
            f"({declared}); KerasTuner keeps the first declaration and would ignore this call's. "
            f"Declare the rate once, with learning_rate(hp, ...), and use the value it returns. (To fix or "
            f"narrow the rate by the tuner's hyperparameters=, build the model in keras_lr.tuning.LRHyperModel, "
            f"which lets that declaration win, as KerasTuner does.)"
        )
    if building is not None:
        if building.finder is not None and building.rate_name not in (None, name):
            # A rate per optimizer: one range test, run with one of them, would narrow whichever came first.
            raise keras_tuner.errors.FatalValueError(
                f"LRHyperModel(finder={'True' if building.finder is True else 'result'}) narrows one rate, but "
                f"build_model declared two with keras_lr.tuning.learning_rate(hp): {building.rate_name!r} and "
                f"{name!r}; the test, run with the defaults' optimizer, would narrow the first alone. Run one search "
                f"per optimizer, each with its own finder, or search without finder=."
            )
        building.rate_name, building.declared_bounds = name, (min_value, max_value)
        building.rate_scope = scope
        if building.bounds is not None:  # a range test's, where they overlap the bounds declared here
            low, high = max(min_value, building.bounds[0]), min(max_value, building.bounds[1])
            if low < high:
                min_value, max_value = low, high
    return hp.Float(name, min_value, max_value, step=step, sampling="log", default=default)


def _settings_text(values, keys=("min_value", "max_value", "step", "default")):
    """``key=value, ...`` of a rate's settings, as messages show them (floats with %g)."""
    return ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value!r}"
                     for key, value in zip(keys, values))


def _fraction_of(total_steps, fraction):
    return max(1, int(round(fraction * total_steps)))


def _momentum(optimizer_has_momentum):
    """OneCycle's and CyclicLR's momentum range, or None where there is none to cycle."""
    return dict(base_momentum=0.85, max_momentum=0.95) if optimizer_has_momentum else dict(base_momentum=None)


class ScheduleChoice:
    """One `lr_schedule` choice: its hyperparameters and what runs it."""

    name = None

    def declare(self, hp):
        """Registers this schedule's hyperparameters (called inside its conditional scope)."""

    def schedule(self, values, rate, total_steps, momentum):
        """The schedule of one trial: ``values`` are the trial's hyperparameters."""
        raise NotImplementedError

    def callback(self, values, rate, epochs, momentum, validation):
        """The keras_lr callback that runs this schedule in one trial, or None.

        ``epochs``: how many epochs the schedule spans (None: the fit's own).
        """
        return FitSized(lambda total: self.schedule(values, rate, total, momentum), epochs)


class ConstantChoice(ScheduleChoice):
    name = "constant"

    def callback(self, values, rate, epochs, momentum, validation):
        return None


class OneCycleChoice(ScheduleChoice):
    name = "one_cycle"

    def declare(self, hp):
        hp.Float("one_cycle_pct_start", 0.1, 0.5, step=0.1, default=0.3)
        hp.Choice("one_cycle_div_factor", [10.0, 25.0, 100.0], default=25.0)

    def schedule(self, values, rate, total_steps, momentum):
        return lr_schedules.OneCycle(
            rate,
            total_steps,
            pct_start=values["one_cycle_pct_start"],
            div_factor=values["one_cycle_div_factor"],
            **_momentum(momentum),
        )


class CosineChoice(ScheduleChoice):
    name = "cosine"

    def declare(self, hp):
        hp.Float("cosine_warmup", 0.0, 0.2, step=0.05, default=0.0)

    def schedule(self, values, rate, total_steps, momentum):
        warmup = int(round(values["cosine_warmup"] * total_steps))
        decay = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, total_steps - warmup))
        return lr_schedules.Warmup(decay, warmup_steps=warmup) if warmup else decay


class CyclicChoice(ScheduleChoice):
    name = "cyclic"

    # The rate cycles between the tuned rate / BASE_DIVISOR and the tuned rate;
    # exp_range shrinks the amplitude to EXP_RANGE_END of itself over the run.
    BASE_DIVISOR = 10.0
    EXP_RANGE_END = 0.01

    def declare(self, hp):
        hp.Choice("cyclic_mode", ["triangular", "triangular2", "exp_range"], default="triangular")
        hp.Int("cyclic_cycles", 1, 4, default=2)

    def schedule(self, values, rate, total_steps, momentum):
        half = max(1, total_steps // (2 * values["cyclic_cycles"]))
        return lr_schedules.CyclicLR(
            rate / self.BASE_DIVISOR,
            rate,
            step_size_up=half,
            mode=values["cyclic_mode"],
            gamma=self.EXP_RANGE_END ** (1.0 / total_steps),
            **_momentum(momentum),
        )


class StepChoice(ScheduleChoice):
    name = "step"

    def declare(self, hp):
        hp.Choice("step_factor", [0.1, 0.2, 0.5], default=0.2)
        hp.Float("step_interval", 0.2, 0.5, step=0.1, default=0.3)

    def schedule(self, values, rate, total_steps, momentum):
        return keras.optimizers.schedules.ExponentialDecay(
            rate,
            decay_steps=_fraction_of(total_steps, values["step_interval"]),
            decay_rate=values["step_factor"],
            staircase=True,
        )


class PlateauChoice(ScheduleChoice):
    name = "plateau"

    def declare(self, hp):
        hp.Choice("plateau_factor", [0.1, 0.2, 0.5], default=0.2)
        hp.Int("plateau_patience", 1, 5, default=2)

    def callback(self, values, rate, epochs, momentum, validation):
        return lr_callbacks.ReduceLROnPlateau(
            monitor="val_loss" if validation else "loss",
            factor=values["plateau_factor"],
            patience=values["plateau_patience"],
        )


SCHEDULES = {
    choice.name: choice
    for choice in (ConstantChoice(), OneCycleChoice(), CosineChoice(), CyclicChoice(), StepChoice(), PlateauChoice())
}


class FitSized(lr_callbacks.ScheduleCallback):
    """Applies ``make_schedule(total_steps)``, sized to the fit (or to ``epochs`` of it).

    With ``epochs`` the schedule spans that many epochs whatever the fit's
    `epochs`: Hyperband continues a trial over rounds with
    `fit(epochs=E, initial_epoch=k)`, and each round must go on with the
    schedule of the whole budget, not start a shorter one.
    """

    # Its warnings name what the user made, and what they can do in a search (no base_momentum to pass).
    owner_name = "LRHyperModel"
    warns_of_fresh_resume = False  # Hyperband's rounds go on with a fresh optimizer, the schedule placed on purpose
    momentum_hint = (
        "in a search, filter this warning (warnings.filterwarnings) to silence it, or leave 'one_cycle' and "
        "'cyclic' out of schedules= to keep the momentum as compiled"
    )

    def __init__(self, make_schedule, epochs=None):
        self.make_schedule = make_schedule
        self.epochs = epochs
        super().__init__()

    def _sized_in_batches(self):
        return True

    def _build_schedule(self):
        steps = self._steps_per_epoch()
        if steps is None:
            try:
                self._missing_steps("the schedule's length", "pass steps_per_epoch to search(), or to "
                                                                   "hypermodel.fit when retraining a trial")
            except ValueError as error:  # every trial with a schedule would fail alike: the search stops at once
                raise keras_tuner.errors.FatalValueError(str(error)) from None
        epochs = self.epochs if self.epochs is not None else int(self.params["epochs"])
        return self.make_schedule(max(1, epochs * steps))


def check_schedules(owner, schedules):
    """A tuple of known, distinct schedule names."""
    if isinstance(schedules, str) or not hasattr(schedules, "__iter__"):
        raise ValueError(f"{owner}: schedules must be a sequence of schedule names; received schedules={schedules!r}")
    schedules = tuple(schedules)
    if not schedules:
        raise ValueError(f"{owner}: schedules must name at least one schedule; received schedules=()")
    for name in schedules:
        if name not in SCHEDULES:
            close = difflib.get_close_matches(str(name), SCHEDULES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{owner}: schedules names an unknown schedule {name!r}{hint}; the schedules are "
                f"{', '.join(repr(n) for n in SCHEDULES)}"
            )
    if len(set(schedules)) != len(schedules):
        raise ValueError(f"{owner}: schedules must not repeat a name; received schedules={schedules!r}")
    return schedules


def bounds_from_range_test(result, widen=3.0):
    """The rates a range test's curve supports, as (low, high) bounds for a search.

    From where the loss starts falling for good (`cyclic_bounds()[0]`) to
    `widen` times the higher of where it stops falling (`cyclic_bounds()[1]`)
    and the OneCycle peak it recommends (`one_cycle_max_lr`): the peak of a
    schedule may sit above the rate at which a constant rate still trains,
    and the recommendation itself is inside with room above it. At least a
    decade wide, then kept within the rates a search takes (1e-7 to 10).

    Args:
        result: An `LRFinderResult`.
        widen: Float >= 1. How far above the higher of the two the bounds
            reach.

    Returns:
        (low, high), or None when the curve cannot support it (an
        unreliable curve, or no fall).
    """
    owner = "bounds_from_range_test"
    if not isinstance(result, Recommendation):
        raise ValueError(
            f"{owner}: result must be a range test's result (keras_lr.lr_find(...)); received {type(result).__name__}"
        )
    widen = v.check_number(owner, "widen", widen, low=1.0)
    if not result.reliable:
        return None
    low, high = result.cyclic_bounds()
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        return None
    peak = result.one_cycle_max_lr
    high = max(high, peak if math.isfinite(peak) else high) * widen
    if high / low < 10.0:
        middle = math.sqrt(low * high)
        low, high = middle / math.sqrt(10.0), middle * math.sqrt(10.0)
    return max(low, LOWEST * 1.0001), min(high, HIGHEST)
