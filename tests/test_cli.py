import pytest

from keras_lr import cli


def test_demo_trains_digits_with_one_cycle(tmp_path, capsys):
    plot = tmp_path / "schedule.png"
    assert cli.main(["demo", "--epochs", "3", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.count("learning_rate") == 3
    assert plot.stat().st_size > 1000
    accuracy = float(out.strip().splitlines()[-1].split()[-1])
    assert accuracy > 0.85  # 10 classes: chance is 0.1


@pytest.mark.parametrize("argv", [["demo", "--epochs", "0"], ["demo", "--max-lr", "-1"], []])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
