"""`lr_find`: run a learning-rate range test on a compiled model and put it back."""

import inspect

import keras
import numpy as np

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine import optimizers
from keras_lr._engine.distribution import build_optimizer, variable_scope
from keras_lr._engine.session import check_built_for, close_interrupted, in_running_fit, running_session
from keras_lr._engine.state import ModelState
from keras_lr.finder.callback import LRFinder, check_range, check_trainable, check_validation_data
from keras_lr.finder.result import LRFinderResult


def _is_tf_dataset(x):
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "cardinality")


def _is_torch_loader(x):
    """A `torch.utils.data.DataLoader` (or a subclass): batches that fit reads again each epoch."""
    return any(c.__name__ == "DataLoader" and c.__module__.startswith("torch.utils.data") for c in type(x).__mro__)


def _is_batches(x):
    """Batches of (x, y) that fit reads again each epoch: a `keras.utils.PyDataset` or a torch `DataLoader`."""
    return isinstance(x, keras.utils.PyDataset) or _is_torch_loader(x)


def _needs_targets(model):
    """Whether the model's loss needs targets: a loss compiled in, read by Keras's own train_step and
    compute_loss (an autoencoder's of its own may take x as its target; add_loss alone needs none)."""
    own = (type(model).train_step is not keras.Model.train_step
           or type(model).compute_loss is not keras.Model.compute_loss)
    return getattr(model, "loss", None) is not None and not own


def _check_targets(owner, dataset, model):
    """Raises when a dataset yields inputs alone to a model whose loss needs targets.

    Keras's fit would fail inside its first step ("None values not
    supported") and leave the model unable to trace another fit.
    """
    spec = dataset.element_spec
    if _needs_targets(model) and not (isinstance(spec, tuple) and len(spec) >= 2):
        raise ValueError(
            f"{owner}: x, a {type(dataset).__name__}, yields inputs alone, with no targets for the loss; make it "
            f"yield (x, y) batches, e.g. tf.data.Dataset.zip((inputs, targets)) or dataset.map(lambda x: (x, "
            f"target(x)))."
        )


def _check_batched(owner, dataset, model, name="the dataset"):
    """Raises when a dataset yields single examples where the model takes batches (each of its inputs)."""
    spec = dataset.element_spec
    specs = keras.tree.flatten(spec[0] if isinstance(spec, tuple) else spec)  # a dict of inputs too
    inputs = getattr(model, "inputs", None)
    if not inputs or len(specs) != len(inputs) or not all(hasattr(part, "shape") for part in specs):
        return
    # Each spec one input's example shape (the input's shape without its batch axis; a dict's order need not be
    # the inputs'). Not by rank alone: Keras adds a last axis of 1 that an input declares, so (None, 10)
    # batches feed Input((10, 1)).
    def example(part, tensor):
        wanted = tuple(tensor.shape)[1:]
        return len(part.shape) == len(wanted) and all(a is None or b is None or a == b
                                                      for a, b in zip(tuple(part.shape), wanted))

    unmatched = list(inputs)
    for part in specs:
        match = next((tensor for tensor in unmatched if example(part, tensor)), None)
        if match is None:
            return
        unmatched.remove(match)
    if not unmatched:
        shapes = ", ".join(str(tuple(part.shape)) for part in specs)
        expected = ", ".join(str(tuple(tensor.shape)) for tensor in inputs)
        raise ValueError(
            f"{owner}: {name} yields single examples of shape {shapes} where the model takes "
            f"batches of shape {expected}; batch it first, e.g. dataset.batch(32)."
        )


def _non_finite_count(name, value):
    """(name, how many NaN or infinite values it holds) for numpy or pandas data (dicts and lists of them); else None.

    Another kind (a dataset, a generator) is not read here: the test reads it.
    """
    if value is None or _is_tf_dataset(value) or _is_generator(value):
        return None
    leaves = [value] if hasattr(value, "to_numpy") else keras.tree.flatten(value)
    count = 0
    for leaf in leaves:
        array = leaf.to_numpy() if hasattr(leaf, "to_numpy") else leaf
        if isinstance(array, np.ndarray) and array.dtype.kind == "f":
            count += int(array.size - np.count_nonzero(np.isfinite(array)))
    return (name, count) if count else None


def _rows(array):
    """The first dimension of an array-like (numpy, a tensor, sparse or ragged), or None when unknown."""
    try:
        shape = tuple(array.shape)
        return int(shape[0]) if shape and shape[0] is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _probe(x, batch_size):
    """(inputs, note): inputs to compare the model's outputs on before and after the test, or None with a
    note saying why not (None for a generator: reading it would change what the test reads).

    Arrays give ``batch_size`` rows spread evenly over them (a strided slice, which numpy, tensors of every
    backend, scipy sparse and pandas' ``iloc`` take), not the first: on rows sorted by class the first
    batch is one class. A dataset, PyDataset or DataLoader gives its first batch's inputs. Called after the test, so a
    cached dataset has been read in full and the test's batches were not changed by it.
    """
    if _is_generator(x):
        return None, None
    try:
        if _is_tf_dataset(x) or _is_batches(x):
            batch = x[0] if isinstance(x, keras.utils.PyDataset) else next(iter(x))
            return keras.utils.unpack_x_y_sample_weight(batch)[0], None
        count = _rows(keras.tree.flatten(x)[0])
        step = max(1, count // batch_size)
        rows = slice(0, step * min(batch_size, count), step)
        return keras.tree.map_structure(lambda part: part.iloc[rows] if hasattr(part, "iloc") else part[rows], x), None
    except Exception as error:  # a layout this cannot slice (tf.SparseTensor, ...): say so, run on
        return None, f"{type(error).__name__}: {error}"


def _outputs(model, inputs):
    """(outputs, note): the model's outputs on ``inputs`` (inference), each as a float64 array, or None with
    what the call raised."""
    try:
        outputs = model(inputs, training=False)
        return [np.asarray(keras.ops.convert_to_numpy(part), dtype=np.float64) for part in keras.tree.flatten(outputs)], None
    except Exception as error:  # e.g. a model that takes its inputs in a form only fit builds
        return None, f"{type(error).__name__}: {error}"


def _check_collapse(model, x, batch_size, state):
    """(collapsed, note) for a test that has just run to its end: its model's outputs on a batch of ``x``
    now, against those of the model as ``state`` kept it (restored for that, then again after, as the call
    moves a stateful layer's state)."""
    inputs, note = _probe(x, batch_size)
    if inputs is None:
        return False, note
    after, note = _outputs(model, inputs)
    if after is None:
        return False, note
    state.restore()
    before, note = _outputs(model, inputs)
    state.restore()
    return _collapsed(before, after), note


def _collapsed(before, after):
    """Whether the network gives every one of the probe's inputs the same output after the test, on each
    of its outputs: within a millionth of the spread they had before it, or, where they were all the same
    before it too (a softmax saturated by unscaled inputs), of the outputs' size."""
    if before is None or after is None or len(before) != len(after):
        return False

    def spread(output):
        return float(np.max(np.ptp(output.reshape(len(output), -1), axis=0))) if output.ndim and len(output) > 1 else 0.0

    def reference(output):
        return spread(output) or (float(np.max(np.abs(output))) if output.size else 0.0)

    return all(reference(b) > 0 and spread(a) <= 1e-6 * reference(b) for b, a in zip(before, after))


def _stand_in(model):
    """A copy of the model's optimizer for a test to build and train, when no fit has built it yet; else None.

    Built by the test, the model's own stayed built for the variables trainable then: a frozen base's head.
    After `base.trainable = True` and a recompile with it, the fine-tuning fit failed ("Unknown variable"; under
    JAX the failed fit emptied the model's variables), and `exclude_from_weight_decay` refused, as Keras allows
    it only before the build. An optimizer whose config does not make it again is built, as a fit would.
    """
    optimizer = model.optimizer
    chain = [optimizer]
    while hasattr(chain[-1], "inner_optimizer"):  # a LossScaleOptimizer's
        chain.append(chain[-1].inner_optimizer)
    if optimizer.built or not _config_is_whole(chain):
        return None
    try:
        with variable_scope(model):
            copy = type(optimizer).from_config(optimizer.get_config())
    except Exception:  # noqa: BLE001 (any error of a config that does not round-trip)
        return None
    twin = copy
    for each in chain:
        for name in ("_exclude_from_weight_decay", "_exclude_from_weight_decay_pattern"):  # not in the config
            if name in vars(each):
                setattr(twin, name, getattr(each, name))
        twin = getattr(twin, "inner_optimizer", None)
    return copy


def _config_is_whole(chain):
    """Whether an optimizer (and the one it wraps, ``chain``) is made again from its config: Keras's own (whose
    config holds every argument, weight-decay exclusions aside), with a float or a schedule for its rate. A
    subclass's config may leave out an argument of its own (a copy trained at its default: a probe's peak 0.37,
    not 2.42), and a function for the rate serializes with a warning."""
    rate = chain[-1]._learning_rate
    return all(type(each).__module__.startswith("keras.") for each in chain) and (
        optimizers.is_variable(rate) or isinstance(rate, keras.optimizers.schedules.LearningRateSchedule))


def _cardinality(dataset):
    """A tf.data dataset's number of batches (-1 endless, -2 unknown): a method, a property on a
    `tf.distribute` dataset (which failed with "'numpy.int64' object is not callable")."""
    cardinality = dataset.cardinality
    return int(cardinality() if callable(cardinality) else cardinality)


def _is_generator(x):
    """A Python iterator that fit cannot restart (a generator, an iterator)."""
    return hasattr(x, "__next__") and not isinstance(x, keras.utils.PyDataset)


# The most of a generator's batches lr_find keeps in memory to repeat, should it end before the test does.
_CYCLE_BYTES = 2**30


def _nbytes(item):
    """The bytes of a batch's arrays (numpy, tensors of any backend); 0 for what it cannot size."""
    total = 0
    for part in keras.tree.flatten(item):
        try:
            size = getattr(part, "nbytes", None)
            if size is None:
                size = int(np.prod(part.shape)) * np.dtype(keras.backend.standardize_dtype(part.dtype)).itemsize
            total += int(size)
        except Exception:  # noqa: BLE001 - a part that is not an array (a string, None)
            pass
    return total


def _cycle(iterator, limit=_CYCLE_BYTES):
    """Yields from ``iterator``, then repeats what it yielded, forever.

    It keeps the batches it yields to repeat them, at most ``limit`` bytes of
    them (and at least the first): every one had been kept, and an endless
    generator of image batches filled the memory over a test. One that ends
    after more is repeated from the batches kept, with a warning.
    """
    seen, size, read = [], 0, 0
    for item in iterator:
        read += 1
        if len(seen) == read - 1:
            size += _nbytes(item)
            if not seen or size <= limit:
                seen.append(item)
        yield item
    if not seen:
        what = "a generator" if inspect.isgenerator(iterator) else f"an iterator ({type(iterator).__name__})"
        raise ValueError(
            f"lr_find: x, {what}, yielded no batches: it is read once, so if an earlier fit or loop read it to its "
            f"end, pass a fresh one; else one that yields (x, y) batches"
        )
    if len(seen) < read:
        _warnings.warn(
            f"lr_find: x, a generator, ended after {read} batches, fewer than the test's steps, and only its first "
            f"{len(seen)} (up to {limit / 2**30:.3g} GiB) were kept to repeat: the test reads those again. Pass an endless "
            f"generator, a tf.data.Dataset or a keras.utils.PyDataset, or fewer num_steps."
        )
    while True:
        yield from seen


def _fit_arguments(x, y, batch_size, num_steps, sample_weight=None, class_weight=None, skips_steps=False):
    """How to call fit so it runs (at least) ``num_steps`` steps, cycling short data.

    ``skips_steps``: a `LossScaleOptimizer` skips the steps whose scaled gradients overflow, which the
    test does not count: endless data gets two epochs of ``num_steps`` (the test stops fit when done).
    """
    weights = {} if class_weight is None else dict(class_weight=class_weight)
    epochs = 2 if skips_steps else 1
    # Datasets and generators come batched (and shuffled) as they are.
    if _is_generator(x):  # already cycled by lr_find, so a second test reads on
        return dict(x=x, steps_per_epoch=num_steps, epochs=epochs, shuffle=False, **weights)
    if _is_tf_dataset(x):
        if _cardinality(x) == -2 and hasattr(x, "repeat") and keras.backend.backend() == "tensorflow":
            # Of unknown length (a filter, from_generator, TFRecordDataset): fit under TensorFlow without XLA
            # ends each pass over it with a call that trains nothing but counts a step, so the rates ran ahead
            # of the losses recorded with them by a step a pass (its peak 3.4x low on ten batches). Repeated, it
            # is one endless pass. (An empty one ends at once, repeated too. JAX and PyTorch make no such call:
            # their passes stay as they were, each loss read back from an epoch's running mean of a few batches.)
            x = x.repeat()
        if _cardinality(x) == -1:  # infinite: one epoch of num_steps
            return dict(x=x, steps_per_epoch=num_steps, epochs=epochs, shuffle=False, **weights)
        return dict(x=x, epochs=num_steps, shuffle=False, **weights)
    if _is_batches(x):
        return dict(x=x, epochs=num_steps, shuffle=False, **weights)
    if sample_weight is not None:
        weights["sample_weight"] = sample_weight
    return dict(x=x, y=y, batch_size=batch_size, epochs=num_steps, **weights)


def lr_find(
    model,
    x,
    y=None,
    *,
    batch_size=None,
    sample_weight=None,
    class_weight=None,
    start_lr=1e-7,
    end_lr=10.0,
    num_steps=300,
    mode="exp",
    smoothing=0.9,
    divergence_threshold=4.0,
    validation_data=None,
    seed=None,
    retry=True,
    verbose="auto",
):
    """Runs the learning-rate range test on a compiled model, then restores it.

    Trains for up to `num_steps` steps (three times that when the test is
    run again, below) while the rate rises from `start_lr`
    to `end_lr`, records the loss at every step, and stops early when the
    smoothed loss exceeds `divergence_threshold` times its best or is NaN.
    Afterwards the model's variables, every optimizer variable (step
    counter, moments, loss scale) and the optimizer's learning rate (a float
    or a schedule) are exactly as before, bitwise, however the test ended:
    normally, diverged, NaN, or interrupted by an exception or
    KeyboardInterrupt. An optimizer no fit has built yet stays unbuilt (the
    test trains a copy of it), so a base unfrozen after the test trains
    with it after a recompile, as it would without the test.

    A test too short to judge is run again, once, from the same weights:
    when the loss never fell (or neither fell by 10% nor rose for good),
    fell by less than a tenth of its start, its OneCycle peak is not steady,
    or the network collapsed (below), a second test of `3 * num_steps` steps over
    the same rates replaces the first (whose result is kept as
    `result.first_test`), as the first test's warning would ask; a reliable
    first test is kept if the second is not. An exception or Ctrl-C in the
    second test propagates, the model restored, as in the first. In
    benchmarks/finder_quality.py this is what a CNN trained with SGD
    needed: all 10 of its 300-step tests asked, and at 900 steps all 10
    were reliable, their peaks at the grid's best. `retry=False` keeps the
    first test whatever it shows. A model trained already (its optimizer
    has taken steps) whose loss did not fall beyond the batches' noise
    before it rose has little left to fall: an unreliable answer then says
    so, and to test the model as built instead (a digits MLP trained for
    30 epochs was "not steady" at 300 steps and again at 900).

    A network can die on the test's highest rates instead of diverging:
    its ReLU units die (on unscaled inputs, for one), it gives one output
    for every input, and its loss falls to that constant prediction's and
    stays there, which the curve alone reads as a fall still going at
    `end_lr` (with a OneCycle peak of about 1, at which the network dies
    again). After a test that ran to `end_lr` (one stopped by a divergence
    has read it), `lr_find` compares the model's outputs on one batch of the
    data (rows spread over arrays, the first batch of a dataset,
    PyDataset or DataLoader; not a generator's) at the end of the test and before it: all
    equal at the end (within a millionth of their spread before, or of
    their size where they were all equal before too: a softmax saturated by
    unscaled inputs), and that loss read as part of the
    fall (the curve never rose for good, or that loss lies nearer its
    minimum than its start: a CNN whose loss climbs back to the labels'
    entropy, its start, as its units die has read that rise, and stands),
    the result is unreliable (`result.collapsed`), its reason says to
    standardise the inputs or lower
    `end_lr`, and the test is run again: a denser test may diverge before
    the units die (its answer then still warns to standardise the inputs).
    Inputs it cannot slice (a `tf.SparseTensor`) or a model
    it cannot call on them leave a note. docs/range_test.md has the figures.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(512, 4)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.Adam(), "mse")
    >>> result = lr_find(model, x, y, batch_size=32, num_steps=60, seed=0, verbose=0)
    >>> sorted(result.suggestions)
    ['minimum', 'slide', 'steep', 'valley']
    >>> float(model.optimizer.iterations.numpy()), result.reliable
    (0.0, True)

    Args:
        model: A compiled, built Keras model.
        x: Input data: numpy arrays (with `y`), a `tf.data.Dataset`, a
            `keras.utils.PyDataset`, a `torch.utils.data.DataLoader`, or a
            Python generator of `(x, y)` batches. Data shorter than
            `num_steps` batches is cycled (a generator's from the batches
            it yielded, at most 1 GiB of them kept).
        y: Targets, with array inputs only; not needed by a model whose
            own `compute_loss` or `train_step` makes its loss without them
            (an autoencoder's), as in `fit(x)`.
        batch_size: Integer or None (32), with array inputs only.
        sample_weight: None or an array of one weight per example, with
            array inputs only (a dataset yields `(x, y, sample_weight)`).
            As in `fit`: the test measures the loss training will follow.
        class_weight: None or a dict from class index to weight, as in
            `fit` (which refuses it with a Python generator).
        start_lr: Float > 0. Rate of the first step.
        end_lr: Float > start_lr. Rate of the last step.
        num_steps: Integer >= 2. Steps of the test. 300 by default (fastai
            uses 100): in benchmarks/finder_quality.py, 100-step tests gave
            no usable curve for a CNN trained with SGD in 9 of 10 seeds, and
            their OneCycle peak moved more between seeds on 9 of 12 tasks.
        mode: `"exp"` (rates evenly spaced in log) or `"linear"`.
        smoothing: Float in [0, 1). Weight of the past in the running
            average of the loss that decides divergence and where the loss
            rose for good; `smoothed_loss`, which the suggestions read, is a
            centered moving median over as many points as that average
            weighs ((1 + smoothing) / (1 - smoothing): 19 for 0.9).
        divergence_threshold: Float > 1. The test stops when the smoothed
            loss exceeds this times its best.
        validation_data: None, `(x, y)`, `(x, y, sample_weight)` or a
            dataset: evaluate the loss on it after every step and suggest
            from that (slower, steadier).
        seed: Integer or None. Seeds Python, numpy and the backend
            (`keras.utils.set_random_seed`) before the test and again when
            its training begins (after whatever a first `fit` builds draws
            random numbers), so two runs give the same curve and suggestion.
        retry: Bool. Run a test too short to judge again with three times
            `num_steps` (at most four times the steps in all; see above).
        verbose: `"auto"` (1) or an integer >= 0. Above 0 shows a progress
            bar with the rate and the loss.

    Returns:
        An `LRFinderResult` (of the second test, when there was one).

    Raises:
        ValueError: for a bad argument, an uncompiled or unbuilt model, a
            model with no trainable weights, or an optimizer without a
            learning rate, before any step runs.
    """
    owner = "lr_find"
    start_lr, end_lr, num_steps, mode, smoothing, divergence_threshold = check_range(
        owner, start_lr, end_lr, num_steps, mode, smoothing, divergence_threshold
    )
    if verbose == "auto":
        verbose = 1
    verbose = v.check_verbose(owner, verbose)
    if seed is not None:
        seed = v.check_int(owner, "seed", seed, low=0)
    retry = v.check_bool(owner, "retry", retry)
    validation_data = check_validation_data(owner, validation_data)
    if batch_size is not None:
        batch_size = v.check_int(owner, "batch_size", batch_size, low=1)
    if not isinstance(model, keras.Model):
        raise ValueError(f"{owner}: model must be a keras.Model; received {type(model).__name__}")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ValueError(f"{owner}: the model is not compiled; call model.compile(optimizer, loss) first.")
    if not model.built:
        raise ValueError(
            f"{owner}: the model is not built, so its starting weights cannot be kept; "
            f"give it an Input layer or call it on a batch first."
        )
    check_trainable(model, owner)
    inner = optimizers.inner_optimizer(model.optimizer)
    optimizers.check_rate(owner, inner, getattr(inner, "_learning_rate", None))
    if not (_is_generator(x) or _is_tf_dataset(x) or _is_batches(x)):
        if y is None and _needs_targets(model):
            raise ValueError(
                f"{owner}: y is required with array inputs (x is a {type(x).__name__}); pass the targets, or a "
                f"dataset or generator of (x, y) batches."
            )
        empty = [part for part in keras.tree.flatten(x) if _rows(part) == 0]  # a model of several inputs too
        if empty:
            raise ValueError(f"{owner}: x has no rows (shape {tuple(empty[0].shape)}): nothing to train on.")
        batch_size = batch_size or 32
    elif y is not None or batch_size is not None or sample_weight is not None:
        passed = ([f"y, a {type(y).__name__}"] if y is not None else []) + (
            [f"batch_size={batch_size}"] if batch_size is not None else []) + (
            [f"sample_weight, a {type(sample_weight).__name__}"] if sample_weight is not None else [])
        raise ValueError(
            f"{owner}: y, batch_size and sample_weight go with array inputs; x is a {type(x).__name__}, which "
            f"yields (x, y) or (x, y, sample_weight) batches of its own size, so leave them out (received "
            f"{' and '.join(passed)})."
        )
    if class_weight is not None and not isinstance(class_weight, dict):
        raise ValueError(
            f"{owner}: class_weight must be a dict from class index to weight, as in fit; received "
            f"class_weight={class_weight!r}"
        )
    if _is_tf_dataset(x):
        _check_targets(owner, x, model)
        _check_batched(owner, x, model)
        if _cardinality(x) == 0:
            raise ValueError(f"{owner}: x, a {type(x).__name__}, is empty: nothing to train on.")
    if _is_tf_dataset(validation_data):  # before any step, as for x (Keras's shape error came after the first)
        _check_batched(owner, validation_data, model, name="validation_data")

    running = running_session(optimizers.optimizer_of(model, owner))
    if running is not None:  # from a callback of a keras_lr fit of the model, or of one sharing its optimizer
        raise in_running_fit(owner, model, running, called="lr_find was called")
    check_built_for(model, owner)
    close_interrupted(model)  # a schedule left in by a fit that stopped with an exception is not the model's
    own = model.optimizer
    stand_in = _stand_in(model)
    if stand_in is None:
        build_optimizer(model)  # before the snapshot, which then holds its moments
    if _is_generator(x):
        x = _cycle(x)  # once: a second test reads on from where the first stopped
    state = ModelState(model)
    trained = int(optimizers.step_counter(model.optimizer).numpy())  # batches it has trained

    def test(steps):
        nonlocal stand_in
        finder = LRFinder(
            start_lr=start_lr,
            end_lr=end_lr,
            num_steps=steps,
            mode=mode,
            smoothing=smoothing,
            divergence_threshold=divergence_threshold,
            validation_data=validation_data,
            restore=False,
            seed=seed,
            warn=False,  # warned below, once it is known which test is the answer
            verbose=verbose,
        )
        try:
            if stand_in is not None:
                model.optimizer = stand_in
                build_optimizer(model)
            model.steps_per_execution = 1
            if seed is not None:
                keras.utils.set_random_seed(seed)
            arguments = _fit_arguments(x, y, batch_size, steps, sample_weight, class_weight, skips_steps=isinstance(
                model.optimizer, keras.optimizers.LossScaleOptimizer))
            model.fit(**arguments, verbose=0, callbacks=[finder])
            result = finder.result
            # A test stopped by a divergence has read it (a diverged network may give one output too); one
            # that ran to end_lr may have ended on a dead network.
            if result is not None and len(result.frame) and result.stopped_early is None:
                collapsed, note = _check_collapse(model, x, batch_size or 32, state)
                if collapsed:  # the same curve, read knowing that the network died on it
                    finder.result = result = LRFinderResult(result.frame, result.smoothing, warn=False, collapsed=True)
                if note:
                    result.notes.append(f"the model's outputs could not be compared before and after the test "
                                        f"({note}), so a network that collapsed to one output would not be seen")
        finally:
            state.restore()
            if stand_in is not None:
                model.optimizer = own
                stand_in = _stand_in(model)  # unbuilt for the next test
            if verbose and finder.result is not None and finder.result.stopped_early:
                print(f"\nlr_find stopped early: {finder.result.stopped_early}.")
        return finder

    finder = test(num_steps)
    first = finder.result
    if first is not None and len(first.frame) == 0:
        raise ValueError(
            f"{owner}: fit ran no step on x (a {type(x).__name__}): it yielded no batch. Is it empty, or does a "
            f"filter drop every element?"
        )
    # NaN in the data spoils the loss or the weights from the first batch that holds one, at any rate: no longer
    # test helps (one NaN in digits: "never fell" after 1200 steps on TensorFlow, "too few points" on JAX).
    spoiled = next(filter(None, (_non_finite_count(name, value) for name, value in
                                 (("x", x), ("y", y), ("sample_weight", sample_weight)))), None)
    why = first._too_short if (retry and first is not None and spoiled is None) else None
    collapsed = first is not None and first.collapsed  # not a length to change: the network died
    if why:
        if verbose:
            judged = "could not be judged" if collapsed else "were too short to judge"
            print(f"\nlr_find: {num_steps} steps {judged} ({why}); testing again with {3 * num_steps}.")
        finder = test(3 * num_steps)
    result = finder.result
    if why and result is not None:
        result._ran_again(3 * num_steps)
    if why and first.reliable and not result.reliable:
        # The first test's peak was cautious but trainable; the second cannot say more: keep the first.
        first.notes.append(f"a second test of {3 * num_steps} steps could not support a suggestion "
                           f"({'; '.join(result.reasons)}), so this first test is the answer")
        first._warnings.append(f"{first.notes[-1]}.")  # its own warning asked for that longer test
        first._ran_again(3 * num_steps)  # its "num_steps threefold" (a barely-fell note's) was that test
        result = first
    elif why:
        result.first_test = first
        judged = "could not be judged" if collapsed else "was too short to judge"
        result.notes.insert(0, f"a first test of {num_steps} steps {judged} ({why}); this is a second "
                               f"test of {3 * num_steps} steps over the same rates")
        if collapsed and not result.collapsed:
            # The denser curve is read, but what let the units die is still there: a reliable answer's peak may
            # train poorly (unscaled breast cancer with RMSprop: 4e-4 to 7e-4, worse than 0.01), and an
            # unreliable one's own advice (raise num_steps) missed it (a newcomer's unscaled regression target).
            result._warnings.append(
                f"the network of a first test of {num_steps} steps collapsed to one output for every "
                f"input at its highest rates: units die at high rates on unscaled features, so standardise the "
                f"inputs if they are not. The answer is a second test of {3 * num_steps} steps, which did not"
                + ("." if result.reliable else ", but cannot support a suggestion either.")
            )
    if result is not None and spoiled is not None and not result.reliable:
        name, count = spoiled
        result._spoiled(
            f"{name} holds {count} NaN or infinite value{'s' if count > 1 else ''}: from the first batch that holds "
            f"one, the model's outputs, then its loss or weights, are NaN at every learning rate, and a longer test "
            f"does not change that; fill or drop them (np.nan_to_num, or scikit-learn's SimpleImputer), then test again"
        )
    if result is not None and trained and result._flat and np.isfinite(result.rise_lr) and result._too_short:
        # The advice to test longer does not reach what is wrong: the loss has nothing left to fall. (A curve
        # that never rose may be flat because its rates were too low to move the loss.)
        said = (f"the model had trained on {trained} batches before the test (its optimizer's step counter), and "
                f"its loss did not fall beyond the batches' noise before it rose at {result.rise_lr:.3g}: a trained "
                f"model has little left to fall. A range test chooses the rate to train a model with from its "
                f"start: run it on the model as built, before fit")
        if result.reliable:  # a note: reasons are empty exactly when it is reliable
            result.notes.append(said)
            result._warnings.append(f"{said}.")
        else:
            # The only reason: the others' "raise num_steps" (a newcomer re-running the notebook's range-test
            # cell after training was told both) would test the trained model longer, whose curve then read as
            # reliable with no word of the training.
            result._spoiled(said)
    elif result is not None and trained and result.reliable:
        said = (f"the model had trained on {trained} batches before the test (its optimizer's step counter), so the "
                f"curve and its suggestions are for training on from these weights; for the rate to train the "
                f"model with from its start, run the test on the model as built, before fit")
        result.notes.append(said)
        result._warnings.append(f"{said}.")
    if result is not None:
        result._warn()
    return result
