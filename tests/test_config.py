"""fusion.toml: the shipped file documents the defaults; errors name the section and key."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fusion_ml.cli import main
from fusion_ml.config import FusionConfig, load_config
from fusion_ml.errors import ConfigError
from fusion_ml.paths import repo_root

SHIPPED = repo_root() / "fusion.toml"


def test_shipped_file_holds_exactly_the_defaults():
    loaded, defaults = load_config(SHIPPED), FusionConfig()
    for name in ("grouping", "mining", "split", "model", "holdout_playbooks"):
        assert getattr(loaded, name) == getattr(defaults, name), name
    from fusion_ml.incident_config import IncidentConfig

    assert IncidentConfig.from_dict(loaded.incidents) == IncidentConfig()


def test_values_reach_the_training_config(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('[mining]\nmin_support = 0.002\n[model]\nmax_epochs = 3\n'
                    '[training]\nholdout_playbooks = ["ad-dcsync"]\n[grouping]\nwindow = 60\n')
    config = load_config(path)
    training = config.training()
    assert training.mining.min_support == 0.002 and training.mining.min_tenants == 3
    assert training.model.max_epochs == 3 and training.holdout_playbooks == ("ad-dcsync",)
    assert config.grouping.window == 60


@pytest.mark.parametrize("text,message", [
    ("[minning]\nx = 1\n", "unknown section [minning]"),
    ("[mining]\nmin_tenant = 3\n", "[mining]: unknown key 'min_tenant'"),
    ('[mining]\nmin_tenants = "three"\n', "[mining] min_tenants: expected an int, got 'three'"),
    ("[model]\nmax_epochs = true\n", "[model] max_epochs: expected an int, got True"),
    ("[grouping]\nwindow = -5\n", "[grouping]: The 'window' parameter of GroupingConfig"),
    ("[model]\nd_model = 30\nheads = 4\n", "multiple of heads"),
    ("[training]\nholdout_playbooks = \"x\"\n", "holdout_playbooks: expected a list"),
    ("[incidents]\nthreshold = \"x\"\n", "incidents.threshold"),
    ("[split\n", "not valid TOML"),
])
def test_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_config_check_command(tmp_path):
    result = CliRunner().invoke(main, ["config", "check", str(SHIPPED)])
    assert result.exit_code == 0 and "valid" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[mining]\nmin_tenant = 3\n")
    result = CliRunner().invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 2 and "unknown key 'min_tenant'" in result.output
    missing = CliRunner().invoke(main, ["config", "check", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "found nothing there" in missing.output
