import pytest

from keras_lr import cli


def test_demo_runs_the_range_test_then_one_cycle_next_to_keras_default_then_a_search(tmp_path, capsys):
    plot, schedule = tmp_path / "range.png", tmp_path / "schedule.png"
    argv = ["demo", "--epochs", "2", "--plot", str(plot), "--schedule-plot", str(schedule), "--trials", "3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for name in ("valley", "steep", "minimum", "slide", "OneCycle peak"):
        assert name in out
    assert plot.stat().st_size > 1000 and schedule.stat().st_size > 1000
    lines = out.strip().splitlines()
    default = float(next(line for line in lines if "Keras default Adam(0.001):" in line).split()[-1])
    ours = float(next(line for line in lines if "OneCycle at the range test's peak:" in line).split()[-1])
    assert ours > 0.85  # 10 classes: chance is 0.1
    assert ours > default  # two epochs: the range test's peak beats Adam(0.001)
    trials = [line for line in lines if line.strip().startswith("trial ")]
    assert len(trials) == 3 and sum("<- Keras's default" in line for line in trials) == 1
    assert "constant  learning_rate 0.001" in next(line for line in trials if "<- Keras's default" in line)
    assert lines[-1].strip().startswith("best: ") and "against the default's" in lines[-1]


@pytest.mark.parametrize(
    "argv", [["demo", "--epochs", "0"], ["demo", "--max-lr", "-1"], ["demo", "--trials", "-1"], []]
)
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
