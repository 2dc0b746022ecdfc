"""Bad input on the command line exits with status 2 and a message, before any compute."""

from pathlib import Path

import pytest

from rnnxbench.cli import main
from rnnxbench.config import package_files

DIGITS = package_files("suites")["digits"].read_text()
SMOKE = package_files("profiles")["smoke"].read_text()


def run(tmp_path: Path, *args: str) -> list[str]:
    """A small run (on old code it would compute; results and cache stay in tmp_path)."""
    return ["run", "--suite", "digits", "--profile", "smoke", "--architectures", "shallow",
            "--explainers", "sa", "--metrics", "cosine", "--no-progress", "--workers", "1",
            "--cache-dir", str(tmp_path / "cache"), "--results-dir", str(tmp_path / "results"),
            *args]


def write(tmp_path: Path, name: str, text: str, old: str, new: str) -> str:
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return str(path)


def refused(capsys, argv: list[str], *texts: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnxbench: error: ")
    for text in texts:
        assert text in err
    return err


def test_an_empty_selection(tmp_path, capsys):
    refused(capsys, run(tmp_path, "--explainers", ""),
            "--explainers: empty selection: it names no explainer; valid choices: sa, gb")
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


def test_a_name_selected_twice(tmp_path, capsys):
    refused(capsys, run(tmp_path, "--architectures", "deep,deep"),
            "--architectures: architecture 'deep' is selected twice")


def test_mixed_plus_and_plain_names(tmp_path, capsys):
    refused(capsys, run(tmp_path, "--explainers", "sa,+ig"),
            "--explainers: mixes added names (+ig) and plain names (sa)")
    refused(capsys, run(tmp_path, "--explainers", "+igg"),
            "--explainers: unknown explainer 'igg'; valid choices (closest first): ig")


def test_a_misspelled_suite_key(tmp_path, capsys):
    suite = write(tmp_path, "suite.toml", DIGITS, "explainers = [", "explainer = [")
    refused(capsys, run(tmp_path, "--suite", suite),
            f"{Path(suite).resolve()}: unknown suite key 'explainer'; valid choices (closest "
            "first): explainers")


def test_an_unknown_explainer_option(tmp_path, capsys):
    suite = write(tmp_path, "suite.toml", DIGITS, '["sa", "gb"',
                  '["sa", {name = "ig", n_stepz = 8}, "gb"')
    refused(capsys, run(tmp_path, "--suite", suite),
            'explainers[1] {name = "ig", n_stepz = 8}: unknown option \'n_stepz\'; valid '
            'choices (closest first): n_steps')


@pytest.mark.parametrize(("old", "new", "text"), [
    ("epochs = 2", 'epochs = "ten"',
     "epochs = 'ten' has the wrong type (str); valid: an int in [1, inf)"),
    ("epochs = 2", "epochs = 0", "epochs = 0 is out of range; valid: an int in [1, inf)"),
    ("n_folds = 7", "n_folds = 1", "n_folds = 1 is out of range; valid: an int in [2, inf)"),
    ("default = 0.0", 'default = "high"',
     "[gates]: default = 'high' has the wrong type (str); valid: a float in [0.0, 1.0]"),
])
def test_bad_profile_values(tmp_path, capsys, old, new, text):
    profile = write(tmp_path, "profile.toml", SMOKE, old, new)
    refused(capsys, run(tmp_path, "--profile", profile), f"error: {Path(profile).resolve()}",
            text)


@pytest.mark.parametrize(("flag", "value", "valid"), [
    ("--workers", "-5", "an int in [0, inf)"),
    ("--seed", "-1", "an int in [0, 2147483647]"),
    ("--job-timeout", "0", "a float in (0, inf) or None"),
    ("--alpha", "1.5", "a float in (0, 1)"),
])
def test_run_options_out_of_range(tmp_path, capsys, flag, value, valid):
    refused(capsys, run(tmp_path, flag, value), f"command line: {flag} = ", "out of range",
            f"valid: {valid}")
    assert not (tmp_path / "cache").exists()


def test_unknown_run_option_in_python_names_the_closest():
    import rnnxbench

    with pytest.raises(ValueError, match=r"unknown option 'worker'.*closest first\): workers"):
        rnnxbench.run_suite("digits", "smoke", worker=2)
