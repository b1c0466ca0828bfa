"""`LRHyperModel`: a KerasTuner hypermodel that tunes the learning rate and its schedule."""

import difflib
import math

import keras
import keras_tuner

from keras_lr import _warnings
from keras_lr import callbacks as lr_callbacks
from keras_lr._engine.callback import RelogRate
from keras_lr._engine.momentum import momentum_attribute
from keras_lr._engine.optimizers import check_rate, inner_optimizer, is_variable, variable_value
from keras_lr.finder import LRFinderResult, lr_find
from keras_lr.tuning import _kerastuner, space
from keras_lr.tuning.tuners import _Search

SCHEDULE = "lr_schedule"
ALL_SCHEDULES = tuple(space.SCHEDULES)


class LRHyperModel(keras_tuner.HyperModel):
    """Tunes the learning rate, and how it moves during training, for any model.

    Your `build_model(hp)` builds and compiles a model as in any KerasTuner
    tutorial, with `optimizer(learning_rate=keras_lr.tuning.learning_rate(hp))`.
    `LRHyperModel` adds the choice `lr_schedule` (default `"constant"`) and
    each schedule's own hyperparameters, active only when it is chosen, and
    runs the chosen schedule in that trial's `fit` with the tuned rate as its
    peak; your own callbacks run too.

    | `lr_schedule` | what runs | its hyperparameters |
    |---|---|---|
    | `"constant"` | the tuned rate | |
    | `"one_cycle"` | `schedules.OneCycle` over the fit, momentum cycled | `one_cycle_pct_start`, `one_cycle_div_factor` |
    | `"cosine"` | Keras's `CosineDecay` over the fit, after a linear warmup | `cosine_warmup` (fraction of the fit) |
    | `"cyclic"` | `schedules.CyclicLR` between rate / 10 and the rate, momentum cycled | `cyclic_mode`, `cyclic_cycles` (in the fit) |
    | `"step"` | the rate times `step_factor` every `step_interval` of the fit | `step_factor`, `step_interval` |
    | `"plateau"` | `ReduceLROnPlateau` on `val_loss` (`loss` without validation data) | `plateau_factor`, `plateau_patience` |

    Use it with keras_lr's tuners (`keras_lr.tuning.RandomSearch`,
    `BayesianOptimization`, `Hyperband`, `GridSearch`: KerasTuner's, with the
    defaults trial first, diverging trials handled and learning curves kept).
    It also works with KerasTuner's own classes, which lack those (a warning
    says so once).

    Under `Hyperband` a schedule spans `max_epochs`: a trial continued in a
    later round (KerasTuner reloads its weights, builds a fresh optimizer
    and fits from `initial_epoch`) goes on with the same schedule from that
    epoch, not a new, shorter one. The optimizer's moments and a plateau's
    reductions start afresh in each round, as KerasTuner rebuilds them.

    Example:

    ```python
    def build_model(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
        model.compile(keras.optimizers.Adam(keras_lr.tuning.learning_rate(hp)),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = keras_lr.tuning.RandomSearch(
        keras_lr.tuning.LRHyperModel(build_model), objective="val_accuracy", max_trials=10)
    tuner.search(x, y, epochs=5, validation_split=0.2)
    keras_lr.tuning.results_frame(tuner)
    ```

    Args:
        build_model: Callable `hp -> compiled keras.Model`, whose optimizer
            has a float learning rate (from `keras_lr.tuning.learning_rate(hp)`).
        schedules: Sequence of schedule names to choose from (see the table);
            the first trial uses `"constant"` when it is listed, else the first.
        finder: None (or False): no range test; an `LRFinderResult`, whose
            curve narrows the rate's bounds for the whole search
            (`keras_lr.tuning.bounds_from_range_test`);
            or True: the range test runs once, on the first trial's model and
            the data it trains on (with `validation_split`, the part `fit`
            keeps for training) before it trains, and narrows the bounds for
            the trials after it. Either narrows the bounds given to
            `learning_rate(hp)`, never widens them. The bounds are printed
            and recorded (`results_frame(tuner).attrs`).
            The defaults trial keeps Keras's 0.001, inside the bounds or not.
            With keras_lr's tuners but GridSearch (which takes no initial
            points, and sweeps its grid within the bounds), the trial after
            the defaults (and after any `initial_points`) runs the test's own
            recommendation: one cycle
            at `result.one_cycle_max_lr` (or, without "one_cycle" among the
            schedules, a constant rate at `result.suggestion`). In
            KerasTuner's chief/worker mode (with keras_lr's tuners), the test
            runs once, on the worker that gets the first trial; the chief
            holds the other workers until its result is in. `fit` outside a
            search (retraining the best trial) runs no test; a new search
            with the same hypermodel (a tuner made without reloading a
            project) runs its own, a resumed one keeps its saved bounds.
            (KerasTuner saves a search as each trial ends: one interrupted
            in its first trial starts again, the range test with it.)
            Either needs
            `build_model` to call `keras_lr.tuning.learning_rate(hp)`.
        name: String or None, the hypermodel's name.
        tunable: Bool. Whether its hyperparameters are tuned (KerasTuner's meaning).

    Attributes:
        range_test: The `LRFinderResult` that narrows the bounds: the one
            given as `finder`, or the one `finder=True` ran (on the process
            that ran it; None before it ran, and without a finder).

    Raises:
        ValueError: for a bad argument; when a model is built (as the tuner
            is made, with keras_lr's tuners), for a `build_model` that
            returns no compiled model, or compiles a schedule rather than a
            float rate.
        keras_tuner.errors.FatalValueError: (it stops the search) when a
            model is built with a `finder`, for a `build_model` that does
            not call `keras_lr.tuning.learning_rate(hp)`, calls it twice (a
            rate per optimizer), or compiles a rate other than the one it
            returned; when a trial fits, for a keras_lr schedule callback
            passed to `search` (the hypermodel chooses the schedule); with
            `finder` and KerasTuner's own tuner in a distributed search.
    """

    def __init__(self, build_model, schedules=ALL_SCHEDULES, finder=None, name=None, tunable=True):
        owner = "LRHyperModel"
        if isinstance(build_model, keras.Model):  # callable, but it is the model, not what builds one
            raise ValueError(
                f"{owner}: build_model must be a function hp -> compiled model, not a model; wrap the code that "
                f"makes it: def build_model(hp): ...; return model"
            )
        if not callable(build_model):
            hint = (". To keep a HyperModel's own fit (tuning batch_size, say), subclass LRHyperModel, "
                    "override fit and call super().fit(hp, model, *args, **kwargs); its build goes in as "
                    "build_model" if isinstance(build_model, keras_tuner.HyperModel) else "")
            raise ValueError(
                f"{owner}: build_model must be a callable hp -> compiled model; received {build_model!r}{hint}"
            )
        source = getattr(build_model, "__self__", None)
        if isinstance(source, keras_tuner.HyperModel) and type(source).fit is not keras_tuner.HyperModel.fit:
            _warnings.warn(
                f"{owner}: build_model is {type(source).__name__}.build, whose class has a fit of its own, which "
                f"the search will not call (LRHyperModel's fit runs); to keep it, subclass LRHyperModel, override "
                f"fit and call super().fit(hp, model, *args, **kwargs)."
            )
        super().__init__(name=name, tunable=tunable)
        self.build_model = build_model
        self.schedules = space.check_schedules(owner, schedules)
        if not (finder is None or finder is True or finder is False or isinstance(finder, LRFinderResult)):
            raise ValueError(
                f"{owner}: finder must be None (or False), True or an LRFinderResult (from keras_lr.lr_find); "
                f"received finder={finder!r}"
            )
        self.finder = None if finder is False else finder
        self.bounds = None
        if isinstance(finder, LRFinderResult):
            self.bounds = space.bounds_from_range_test(finder)  # within learning_rate(hp)'s at the first build
        self.rate_name = None
        self.declared_bounds = None  # (min_value, max_value) given to learning_rate(hp)
        self.rate_scope = []  # the conditional scope learning_rate(hp) was called in, as [[parent, [values]], ...]
        self.declared_now = {}  # {name: (min_value, max_value, step, default)} of learning_rate(hp) in this build
        self.declared_first = {}  # {(name, conditional scope): settings} of the first build that declared it
        self.declared_before = set()  # the names the tuner's hyperparameters= declared (see declare_hyperparameters)
        self._rate_tuned = False  # build_model's rate is a hyperparameter (learning_rate(hp) or the user's own)
        self._result = finder if isinstance(finder, LRFinderResult) else None
        self._finder_done = False
        self._warned = False
        self._warned_rate = False  # once: build_model did not call tuning.learning_rate(hp)
        self._warned_scheduler = False  # once: a LearningRateScheduler passed to search
        self._warned_no_search = False  # once: finder=True, but fit called without KerasTuner's callbacks
        self._awaits_test = False  # finder=True, and a keras_lr tuner was made with this hypermodel
        self._checked_resume = None  # the tuner last checked for what a resumed search keeps from its saved space
        self._built = None  # (oracle, {the user's values: model}) while a keras_lr tuner is made with it
        own = keras_tuner.HyperParameters()
        self._declare(own)
        self._own = {hp.name for hp in own.space}  # the hyperparameters LRHyperModel declares itself

    def _declare(self, hp):
        """Declares `lr_schedule` and, each in its conditional scope, the schedules' own hyperparameters."""
        default = "constant" if "constant" in self.schedules else self.schedules[0]
        hp.Choice(SCHEDULE, list(self.schedules), default=default)
        # KerasTuner keeps an lr_schedule declared before (the tuner's hyperparameters=, or a resumed search's
        # saved space): each schedule it names gets its own hyperparameters, in its scope, as ours do.
        declared = _kerastuner.find_hp(hp, SCHEDULE)
        named = list(getattr(declared, "values", None) or [getattr(declared, "value", None)])
        for value in named:
            if value not in space.SCHEDULES:
                close = difflib.get_close_matches(str(value), space.SCHEDULES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise keras_tuner.errors.FatalValueError(
                    f"LRHyperModel: {SCHEDULE!r}, declared before build_model (by the tuner's hyperparameters=), "
                    f"takes {value!r}, which is not a schedule{hint}; the schedules are "
                    f"{', '.join(repr(n) for n in space.SCHEDULES)}"
                )
        for schedule in dict.fromkeys([*self.schedules, *named]):
            with hp.conditional_scope(SCHEDULE, [schedule]):
                space.SCHEDULES[schedule].declare(hp)

    def declare_hyperparameters(self, hp):
        # KerasTuner calls it once as a tuner makes a new search's space (not when it reloads one), before any
        # build: another search with this hypermodel narrows the rate by a range test of its own, as a new
        # hypermodel in a new process would (a resumed search keeps its saved bounds).
        if self.finder is True and self._finder_done:
            self.bounds, self._result, self._finder_done = None, None, False
        elif isinstance(self.finder, LRFinderResult) and self._finder_done:
            # The result's own bounds, within this search's learning_rate(hp), announced again: the last
            # search's were those within its declared ones, and its line was printed for it alone.
            self.bounds, self._finder_done = space.bounds_from_range_test(self.finder), False
        # The space so far is the tuner's hyperparameters=: what it declares wins over build_model's declarations
        # (learning_rate(hp)), as KerasTuner lets it. Saved with a keras_lr search, for its resume.
        self.declared_before = {declared.name for declared in hp.space}
        self.declared_first = {}  # a new search's builds may declare the rate anew (its bounds changed)
        oracle = _kerastuner.constructing.get()
        if isinstance(oracle, _kerastuner.Oracle):
            oracle.keras_lr["given"] = sorted(self.declared_before)

    def build(self, hp):
        self._declare(hp)
        oracle = _kerastuner.constructing.get()
        if oracle is None:
            self._built = None
        else:
            # A keras_lr tuner being made: KerasTuner builds once per conditional scope to find the space,
            # and each of the schedules' scopes would build the user's model again (16 times for the six).
            # Values of the user's own hyperparameters seen before declare nothing new: reuse that model.
            if self._built is None or self._built[0] is not oracle:
                self._built = (oracle, {})
            key = tuple(sorted((name, repr(value)) for name, value in hp.values.items() if name not in self._own))
            model = self._built[1].get(key)
            if model is not None:
                return model
        token = space._building.set(self)
        self.declared_now = {}
        try:
            model = self.build_model(hp)
        finally:
            space._building.reset(token)
        if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
            raise ValueError(
                f"LRHyperModel: build_model must return a compiled keras.Model; received {type(model).__name__}"
                + ("" if not isinstance(model, keras.Model) else " with no optimizer (call model.compile)")
            )
        rate = getattr(inner_optimizer(model.optimizer), "_learning_rate", None)
        check_rate("LRHyperModel", inner_optimizer(model.optimizer), rate)
        if not is_variable(rate):
            raise ValueError(
                f"LRHyperModel: build_model must compile the model with a float learning rate, "
                f"e.g. Adam(keras_lr.tuning.learning_rate(hp)); received an optimizer holding "
                f"{type(rate).__name__}. LRHyperModel puts each trial's schedule in itself: list the "
                f"ones to choose from in LRHyperModel(schedules=...)."
            )
        compiled = variable_value(rate)
        # (float32 in the optimizer: equal to a float hyperparameter's value to its precision)
        named = [
            name for name, value in hp.values.items()
            if isinstance(value, float) and abs(value - compiled) <= 1e-6 * abs(value)
        ]
        declared = hp.values.get(self.rate_name) if self.rate_name is not None else None
        if isinstance(declared, float) and abs(declared - compiled) > 1e-6 * abs(declared):
            message = (
                f"LRHyperModel: build_model called keras_lr.tuning.learning_rate(hp) ({self.rate_name!r} = "
                f"{declared:g} here) but compiled the model with {compiled:g}: the search records"
                f"{' and the range test narrows' if self.finder is not None else ''} a rate that does not train. "
                f"Compile with the value learning_rate(hp) returns, e.g. keras.optimizers.Adam(rate)."
            )
            if self.finder is not None:
                raise keras_tuner.errors.FatalValueError(message)
            if not self._warned_rate:
                self._warned_rate = True
                _warnings.warn(message)
        if self.finder is not None and self.rate_name is None:
            # Nothing for the range test to narrow: the search would run without it, silently.
            raise keras_tuner.errors.FatalValueError(self._no_rate_for_finder(hp, named, compiled))
        self._rate_tuned = self.rate_name is not None or bool(named)
        if self.rate_name is None and not named and not self._warned_rate:  # not tuned, by us or by the user
            self._warned_rate = True
            _warnings.warn(
                f"LRHyperModel: build_model did not call keras_lr.tuning.learning_rate(hp), so the search tunes "
                f"the schedule at the rate the model was compiled with ({compiled:g}), not the rate; "
                f"compile with e.g. keras.optimizers.Adam(keras_lr.tuning.learning_rate(hp))."
            )
        elif self.rate_name is None and not self._warned_rate:  # tuned by the user's own hyperparameter
            self._warned_rate = True
            self._warn_own_default(hp, named[0])
        elif self.rate_name in self.declared_before and not self._warned_rate:  # declared by hyperparameters=
            self._warned_rate = True
            self._warn_own_default(hp, self.rate_name, whose="the tuner's hyperparameters= declare")
        if isinstance(self.finder, LRFinderResult) and not self._finder_done:
            self._finder_done = True
            self.bounds = self._announce_bounds("the range test result given", recommended=oracle is not None)
        if isinstance(oracle, _kerastuner.Oracle):
            oracle.keras_lr.setdefault("schedules", list(self.schedules))  # saved: a resume compares its own
            if self.rate_name in self.declared_now:  # so are the rate's bounds as declared (before any range test)
                oracle.keras_lr.setdefault("rate", [self.rate_name, *self.declared_now[self.rate_name][:3],
                                                    self.rate_scope])
        if oracle is not None and self.rate_name is not None:
            self._register(oracle, hp)
        if oracle is not None:
            self._built[1][key] = model
        return model

    def _register(self, oracle, hp):
        """Tells the oracle of a keras_lr tuner being built about the range test (on the chief, in a distributed search)."""
        recommend = self._recommend()
        if self.finder is True:
            self._awaits_test = True
            _kerastuner.expect_range_test(oracle, self.rate_name, recommend)
        elif self._result is not None and self.bounds is not None:
            _kerastuner.record_bounds(oracle, self.rate_name, *self.bounds, source="the range test result given")
            if recommend is not None:
                rate = getattr(self._result, recommend["rate_from"])
                _kerastuner.add_recommendation(oracle, {**recommend["values"], self.rate_name: rate}, hp)

    def _recommend(self):
        """The range test's own point, run after the initial points: one cycle at its peak, or a constant rate.

        As {"values": the point's schedule, "rate_from": the result's field
        that gives its rate}, or None without one_cycle or constant among the
        schedules.
        """
        if "one_cycle" in self.schedules:
            return {"values": {SCHEDULE: "one_cycle"}, "rate_from": "one_cycle_max_lr"}
        if "constant" in self.schedules:
            return {"values": {SCHEDULE: "constant"}, "rate_from": "suggestion"}
        return None

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        """Fits ``model`` with the trial's schedule (and your callbacks); returns the History."""
        callbacks = list(callbacks or [])
        _kerastuner.check_callbacks("LRHyperModel", callbacks)  # with KerasTuner's own tuners too
        for callback in callbacks:
            if isinstance(callback, lr_callbacks.ScheduleCallback):
                raise keras_tuner.errors.FatalValueError(
                    f"LRHyperModel chooses each trial's schedule: remove {type(callback).__name__} "
                    f"from the callbacks passed to search()."
                )
        scheduler = next((c for c in callbacks if isinstance(c, keras.callbacks.LearningRateScheduler)), None)
        if scheduler is not None and not self._warned_scheduler:
            # It composes (a multiplier on the trial's schedule), so results_frame's rates are not those trained.
            self._warned_scheduler = True
            _warnings.warn(
                "LRHyperModel: keras.callbacks.LearningRateScheduler, passed to search, scales every trial's "
                "schedule by what it sets, so the rates the trials record are not the rates they train at; "
                "LRHyperModel chooses each trial's schedule: leave it out."
            )
        tuner, trial = _kerastuner.search_of(callbacks)
        if tuner is None and self._awaits_test and not self._finder_done and not self._warned_no_search:
            # A run_trial of the user's own that calls fit without KerasTuner's callbacks looks like no search.
            self._warned_no_search = True
            _warnings.warn(
                "LRHyperModel(finder=True): fit ran without KerasTuner's callbacks, so it cannot tell which search "
                "and trial it runs for, and no range test ran. In a run_trial of your own, pass on the callbacks "
                "it receives: self.hypermodel.fit(hp, model, ..., callbacks=kwargs['callbacks']). Retraining a "
                "trial after the search needs none."
            )
        self._check_tuner(tuner)
        override = getattr(tuner, "optimizer", None)
        if override is not None and self._rate_tuned:  # (a search of the schedule alone may take it)
            # KerasTuner compiles each model again with it (Tuner._override_compile_args), after build.
            shown = override if isinstance(override, str) else type(override).__name__
            raise keras_tuner.errors.FatalValueError(
                f"LRHyperModel: the tuner was given optimizer={shown!r}, and KerasTuner compiles every model "
                f"again with it, discarding the optimizer build_model made at the tuned rate: every trial would "
                f"train at that optimizer's own rate while the search records the rate it tuned. Leave the "
                f"tuner's optimizer= out and make the optimizer you want in build_model, e.g. "
                f"keras.optimizers.SGD(keras_lr.tuning.learning_rate(hp), momentum=0.9)."
            )
        if isinstance(tuner, _Search) and self._checked_resume is not tuner:
            self._checked_resume = tuner  # once a search: a hypermodel may serve another
            self._check_resumed(tuner)
        if self.finder is True and isinstance(tuner, _Search):
            # keras_lr's oracle assigns the range test to one trial, on whichever worker runs it.
            if _kerastuner.marked(trial, _kerastuner.RANGE_TEST) is not None:
                self._run_range_test(tuner, trial, model, args, kwargs)
        elif self.finder is True and tuner is not None and not self._finder_done:
            # Not outside a search (retraining the best trial): its rate is chosen already.
            self._run_range_test_here(tuner, trial, model, args, kwargs)
        checks = [_kerastuner.StopOnNonFiniteLoss()]
        if tuner is not None:
            checks.append(_kerastuner.ObjectiveCheck(tuner.oracle.objective))
        schedule = self._callback(hp, model, tuner, kwargs)
        # KerasTuner's own (its run_trial adds them last) read logs["learning_rate"] and the objective at each
        # epoch's end: the schedule and the checks go ahead of them.
        theirs = [c for c in callbacks if type(c).__module__.split(".")[0] == "keras_tuner"]
        yours = [c for c in callbacks if not any(c is t for t in theirs)
                 and not isinstance(c, (_kerastuner.StopOnNonFiniteLoss, _kerastuner.ObjectiveCheck))]
        if schedule is not None:
            # After Keras's ReduceLROnPlateau, which writes logs["learning_rate"] from the optimizer, the next
            # step's rate, the rate trained is written again (a step schedule's cut had shown an epoch early).
            at = max((i + 1 for i, c in enumerate(yours) if isinstance(c, keras.callbacks.ReduceLROnPlateau)),
                     default=0)
            if at:
                yours.insert(at, RelogRate(schedule))
            yours.insert(0, schedule)
        # The stop at a non-finite loss after your callbacks: a DivergenceGuard among them rolls back first and
        # logs the loss it kept (one that cannot recover leaves the NaN, and the trial stops as diverged).
        return model.fit(*args, callbacks=yours + checks + theirs, **kwargs)

    def _callback(self, hp, model, tuner, fit_kwargs):
        values = hp.values
        choice = space.SCHEDULES[values.get(SCHEDULE, self.schedules[0])]
        optimizer = inner_optimizer(model.optimizer)
        if not is_variable(getattr(optimizer, "_learning_rate", None)):
            raise keras_tuner.errors.FatalValueError(
                "LRHyperModel: build_model must compile the model with a float learning rate "
                "(keras_lr.tuning.learning_rate(hp)), not a schedule: LRHyperModel adds the schedule."
            )
        rate = variable_value(optimizer.learning_rate)
        epochs = None
        if "tuner/epochs" in values:  # Hyperband: the schedule spans its whole budget
            epochs = getattr(_kerastuner.built_oracle(tuner), "max_epochs", None) if tuner is not None else None
        has_momentum = momentum_attribute(optimizer) is not None
        validation = fit_kwargs.get("validation_data") is not None or bool(fit_kwargs.get("validation_split"))
        return choice.callback(values, rate, epochs, has_momentum, validation)

    def _check_resumed(self, tuner):
        """Warns where a search resumed (`overwrite=False`) keeps its saved space over this hypermodel's."""
        oracle = _kerastuner.local_oracle(tuner)
        if not isinstance(oracle, _kerastuner.Oracle):
            return  # a worker's: the chief's oracle holds the state
        again = "overwrite=True (or another project_name) begins a new search with them"
        # The schedules the search was made with (not its space's lr_schedule, which a search's own
        # hyperparameters= may narrow on purpose).
        saved = oracle.keras_lr.get("schedules")
        if saved is not None and set(saved) != set(self.schedules):
            _warnings.warn(
                f"LRHyperModel: this search resumes one saved with the schedules {list(saved)}, and "
                f"searches those, not {list(self.schedules)}: KerasTuner keeps a resumed search's space; {again}."
            )
        state = oracle.keras_lr
        saved, now = state.get("rate"), self.declared_now.get(self.rate_name)
        # Compared in the same conditional scope only: one name may be a rate per optimizer, each with its bounds.
        if (saved is not None and now is not None and saved[0] == self.rate_name and saved[4:] == [self.rate_scope]
                and list(saved[1:4]) != list(now[:3])):
            _warnings.warn(
                f"LRHyperModel: this search resumes one whose {self.rate_name!r} was declared with "
                f"{space._settings_text(saved[1:4])}, and searches those, not {space._settings_text(now[:3])}: "
                f"KerasTuner keeps a resumed search's space; {again}."
            )
        tested = state["range_test"] is not None or state["finder_bounds"] is not None
        if self.finder is not None and self.rate_name is not None and not tested and (
                self.finder is True or self.bounds is not None):
            finder = "True" if self.finder is True else "result"
            _warnings.warn(
                f"LRHyperModel(finder={finder}): this search resumes one that began without a range test, and "
                f"runs none now (its rate keeps the bounds it was saved with); {again}."
            )

    def _check_tuner(self, tuner):
        if tuner is None or isinstance(tuner, _Search) or self._warned:
            return
        self._warned = True
        name = type(tuner).__name__
        ours = name in ("RandomSearch", "BayesianOptimization", "Hyperband", "GridSearch")
        # A Tuner subclass of the user's own has no keras_lr counterpart: name the four that exist.
        instead = (f"keras_lr.tuning.{name} takes the same arguments and does" if ours else
                   "keras_lr.tuning's RandomSearch, BayesianOptimization, Hyperband and GridSearch do")
        where = f"keras_tuner.{name}" if ours else f"the tuner {name}"
        _warnings.warn(
            f"LRHyperModel: {where} does not run the defaults trial first, score "
            f"trials whose loss diverges, or keep learning curves; {instead}."
        )

    def _run_range_test(self, tuner, trial, model, args, kwargs):
        """Runs the range test on this trial's model and sends its result to keras_lr's oracle.

        The oracle (on the chief, in a distributed search) narrows the rate's
        bounds and queues the test's recommendation for the trials to come.
        """
        result = self._range_test(model, args, kwargs)
        bounds = space.bounds_from_range_test(result)
        _kerastuner.report_range_test(tuner.oracle, trial, result, bounds)
        self._finder_done, self._result, self.bounds = True, result, bounds
        self.bounds = self._announce_bounds(f"the range test on trial {trial.trial_id}'s model", recommended=True)

    def _run_range_test_here(self, tuner, trial, model, args, kwargs):
        """With KerasTuner's own tuners: runs the range test once per hypermodel, narrows the local oracle."""
        oracle = _kerastuner.local_oracle(tuner) if tuner is not None else None
        if tuner is not None and oracle is None:
            raise keras_tuner.errors.FatalValueError(
                f"LRHyperModel(finder=True) with keras_tuner.{type(tuner).__name__} would run the range test on "
                f"every worker of a distributed search; keras_lr.tuning.{type(tuner).__name__} runs it once."
            )
        result = self._range_test(model, args, kwargs)
        self._finder_done, self._result = True, result
        test = self.bounds = space.bounds_from_range_test(result)
        where = "the range test" + (f" on trial {trial.trial_id}'s model" if trial is not None else "")
        self.bounds = self._announce_bounds(where, recommended=False)
        if test is not None and oracle is not None:
            _kerastuner.narrow(oracle, self.rate_name, *test, source=where)

    @property
    def range_test(self):
        return self._result

    @staticmethod
    def _warn_own_default(hp, name, whose="build_model declares itself"):
        """Warns when the user's own rate hyperparameter starts at its minimum, KerasTuner's default for a Float,
        or at its first value, a Choice's (declared in build_model, or by the tuner's hyperparameters=)."""
        declared = _kerastuner.find_hp(hp, name)
        if isinstance(declared, keras_tuner.engine.hyperparameters.Choice) and declared.values:
            values, first = declared.values, declared.values[0]
            # (A default given as the first value reads the same: the space keeps the default it resolved.)
            if declared.default != first or first == space.KERAS_DEFAULT:
                return
            advice = ("pass default=0.001 to hp.Choice to start from Keras's 0.001"
                      if space.KERAS_DEFAULT in values else "if that is not meant, pass default= to hp.Choice")
            _warnings.warn(
                f"LRHyperModel: the rate {name!r}, which {whose}, is a Choice whose default (the first trial's "
                f"rate) is its first value, {first:g}, as KerasTuner defaults a Choice; {advice}."
            )
            return
        low, high = getattr(declared, "min_value", None), getattr(declared, "max_value", None)
        if low is None or getattr(declared, "default", None) != low or low == space.KERAS_DEFAULT:
            return
        instead = f"keras_lr.tuning.learning_rate(hp, name={name!r}, min_value={low:g}, max_value={high:g})"
        if low <= space.KERAS_DEFAULT <= high:
            advice = f"declare it as {instead} to start from Keras's 0.001, or pass default= to hp.Float"
        else:
            advice = "if that is not meant, pass default= to hp.Float"
        _warnings.warn(
            f"LRHyperModel: the rate {name!r}, which {whose}, is a Float whose default (the first trial's rate) "
            f"is its min_value, {low:g}, as KerasTuner defaults a Float; {advice}."
        )

    def _no_rate_for_finder(self, hp, named, compiled):
        finder = "True" if self.finder is True else "result"
        message = (f"LRHyperModel(finder={finder}) narrows the rate made by keras_lr.tuning.learning_rate(hp), "
                   f"but build_model did not call it: ")
        if not named:
            return message + (f"its optimizer's rate is fixed at {compiled:g}. Compile with e.g. "
                              f"keras.optimizers.Adam(keras_lr.tuning.learning_rate(hp)), or drop finder=.")
        declared = _kerastuner.find_hp(hp, named[0])
        low, high = getattr(declared, "min_value", None), getattr(declared, "max_value", None)
        if low is not None and high is not None and low > 0:
            keeps = low <= space.KERAS_DEFAULT <= high
            instead = (f"keras_lr.tuning.learning_rate(hp, name={named[0]!r}, min_value={low:g}, max_value={high:g}"
                       + (")" if keeps else f", default={low:g})"))
        else:
            keeps, instead = True, f"keras_lr.tuning.learning_rate(hp, name={named[0]!r})"
        return message + (f"its optimizer's rate is the hyperparameter {named[0]!r}; declare it as {instead}"
                          + (" (whose default is Keras's 0.001)" if keeps else "") + ", or drop finder=.")

    @staticmethod
    def _range_test(model, args, kwargs):
        x = args[0] if args else kwargs.get("x")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        batched = hasattr(x, "__next__") or hasattr(x, "element_spec") or isinstance(x, keras.utils.PyDataset)
        # The loss the trials train on: the search's weights too.
        class_weight = kwargs.get("class_weight")
        if batched:
            return lr_find(model, x, class_weight=class_weight, verbose=0)
        sample_weight = kwargs.get("sample_weight")
        split = kwargs.get("validation_split")
        if split and kwargs.get("validation_data") is None:
            # The examples the trials train on: fit keeps the first floor(n * (1 - split)) of the arrays
            # and scores the rest, which the range test must not have trained on either.
            x, y, sample_weight = _training_part((x, y, sample_weight), split)
        return lr_find(model, x, y, batch_size=kwargs.get("batch_size"), sample_weight=sample_weight,
                       class_weight=class_weight, verbose=0)

    def _announce_bounds(self, source, recommended):
        """Prints the bounds the search samples: the test's (`self.bounds`) within learning_rate(hp)'s.

        Says so when the test's recommendation (queued by keras_lr's
        tuners when ``recommended``) falls outside them and is cut to them.
        Returns the bounds searched, or None where the test narrows none
        (an unreliable curve, or bounds outside the declared ones).
        """
        test, declared = self.bounds, self.declared_bounds
        if test is None:
            print(f"LRHyperModel: {source} cannot narrow the learning rate's bounds (its curve is unreliable); "
                  f"searching the bounds given to learning_rate().")
            return None
        if declared is None:
            declared = (0.0, math.inf)
        low, high = max(test[0], declared[0]), min(test[1], declared[1])
        narrowed = low < high
        if narrowed:
            message = f"LRHyperModel: learning rate searched in [{low:.3g}, {high:.3g}] from {source}"
        else:
            low, high = declared  # the recommendation is cut to the bounds searched, these
            message = (f"LRHyperModel: {source} cannot narrow the learning rate's bounds (its bounds "
                       f"[{test[0]:.3g}, {test[1]:.3g}] lie outside learning_rate(hp)'s "
                       f"[{declared[0]:g}, {declared[1]:g}]); searching those")
        recommend = self._recommend() if recommended else None
        rate = getattr(self._result, recommend["rate_from"]) if recommend is not None else None
        if rate is not None and math.isfinite(rate) and not low <= rate <= high:
            what = "OneCycle peak" if recommend["rate_from"] == "one_cycle_max_lr" else "suggested rate"
            side, bound, cut = ("above", "max_value", high) if rate > high else ("below", "min_value", low)
            step = self.declared_now.get(self.rate_name, (None,) * 4)[2]  # a log grid's: the step within them
            message += (f"; its {what} {rate:.3g} is {side} learning_rate(hp)'s {bound}={cut:g}: "
                        f"the trial of its recommendation runs at {_kerastuner.within(rate, low, high, step):g}")
        print(message + ".")
        return (low, high) if narrowed else None


def _training_part(arrays, validation_split):
    """The arrays' first `floor(n * (1 - validation_split))` rows, as `fit` splits them."""
    rows = next(int(a.shape[0]) for a in keras.tree.flatten(arrays) if a is not None)
    end = int(math.floor(rows * (1.0 - validation_split)))
    return keras.tree.map_structure(lambda a: None if a is None else a[:end], arrays)
