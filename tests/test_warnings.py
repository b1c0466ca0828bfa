"""keras_lr's warnings point at the user's line, wherever that line lives."""

import importlib.machinery
import warnings

import pytest

import keras_lr


@pytest.mark.parametrize("filename", ["<string>", "<stdin>"])
def test_a_warning_from_python_c_or_a_piped_script_is_a_warning(filename):
    # `python -c`, `python -` and the plain REPL run __main__ with the builtin importer as its loader, which
    # cannot give the source of the line warned at: the warning raised ImportError in place of warning.
    namespace = {"__name__": "__main__", "__loader__": importlib.machinery.BuiltinImporter, "keras_lr": keras_lr}
    code = compile("keras_lr.OneCycle(max_lr=50)", filename, "exec")
    with pytest.warns(UserWarning, match=r"OneCycle: max_lr=50 trains at a rate above 10") as caught:
        exec(code, namespace)
    assert caught[0].filename == filename and caught[0].lineno == 1  # still the user's line
    # Turned into an error (-W error), it is the warning alone, with no ImportError chained to it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning) as raised:
            exec(code, namespace)
    assert raised.value.__context__ is None


def test_a_warning_points_at_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_lr.OneCycle(max_lr=50)
    assert caught[0].filename == __file__
