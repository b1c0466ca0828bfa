import json

import keras
import numpy as np
import pytest

from keras_lr.schedules import CyclicLR, OneCycle, Sequential, Warmup, WarmupStableDecay, evaluate_schedule

SCHEDULES = [
    OneCycle(0.1, total_steps=40, three_phase=True, pct_start=0.2),
    CyclicLR(0.001, 0.01, step_size_up=3, step_size_down=5, mode="exp_range", gamma=0.95),
    Warmup(keras.optimizers.schedules.CosineDecay(0.1, 30), warmup_steps=5),
    WarmupStableDecay(0.1, 5, 10, 20, final_lr=0.001, decay="sqrt"),
    Sequential([0.05, OneCycle(0.1, total_steps=20), keras.optimizers.schedules.ExponentialDecay(0.01, 5, 0.5)],
               boundaries=[3, 23]),
]
STEPS = np.arange(0, 60)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_config_json_round_trip_gives_identical_values(schedule):
    text = json.dumps(keras.saving.serialize_keras_object(schedule))
    restored = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    np.testing.assert_array_equal(evaluate_schedule(restored, STEPS), evaluate_schedule(schedule, STEPS))


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_model_saved_with_schedule_in_optimizer_loads_and_continues(schedule, tmp_path):
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def build():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(learning_rate=schedule), "mse")
        return model

    model = build()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    assert type(loaded.optimizer._learning_rate) is type(schedule)
    assert int(loaded.optimizer.iterations.numpy()) == 8
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_lambda_in_a_saved_optimizers_schedule_says_why_it_fails_once_loaded(tmp_path):
    # Loaded back (unsafe deserialization), the lambda runs without its module's names: the fit failed with only
    # "NameError: name 'keras' is not defined", where the same schedule in a keras_lr callback is explained.
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(Warmup(lambda step: keras.ops.where(step < 30, 0.02, 0.002), 5)), "mse")
    model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    with keras.saving.custom_object_scope({}):
        from keras.src.saving.serialization_lib import SafeModeScope

        with SafeModeScope(False):
            loaded = keras.saving.load_model(tmp_path / "model.keras")
    with pytest.raises(NameError, match=r"name 'keras' is not defined \(in the schedule function <lambda>\)\. Keras "
                                        r"loaded this function back .*register_keras_serializable"):
        loaded.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)
