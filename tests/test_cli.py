import pytest

from keras_lr import cli


def test_demo_runs_the_range_test_then_one_cycle_next_to_keras_default(tmp_path, capsys):
    plot, schedule = tmp_path / "range.png", tmp_path / "schedule.png"
    assert cli.main(["demo", "--epochs", "2", "--plot", str(plot), "--schedule-plot", str(schedule)]) == 0
    out = capsys.readouterr().out
    for name in ("valley", "steep", "minimum", "slide", "OneCycle peak"):
        assert name in out
    assert out.count("learning_rate") == 2
    assert plot.stat().st_size > 1000 and schedule.stat().st_size > 1000
    lines = out.strip().splitlines()
    default, ours = float(lines[-2].split()[-1]), float(lines[-1].split()[-1])
    assert ours > 0.85  # 10 classes: chance is 0.1
    assert ours > default  # two epochs: the range test's peak beats Adam(0.001)


@pytest.mark.parametrize("argv", [["demo", "--epochs", "0"], ["demo", "--max-lr", "-1"], []])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
