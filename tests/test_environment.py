"""The dependency list is written once (requirements.txt); environment.yml must agree."""

from importlib.metadata import version

import yaml

from fashionkit.data.sources import PROJECT_ROOT


def requirement_pins():
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_every_requirement_is_pinned_exactly():
    for pin in requirement_pins():
        assert "==" in pin, f"{pin} is not pinned"


def test_environment_yml_lists_the_same_pins():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == requirement_pins()
    assert "python=3.11" in env["dependencies"]


def test_installed_versions_match_the_pins():
    for pin in requirement_pins():
        name, wanted = pin.split("==")
        installed = version(name)
        assert installed.split("+")[0] == wanted, f"{name}: installed {installed}, pinned {wanted}"
