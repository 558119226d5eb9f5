"""Plugin loading, isolation and registries."""

from __future__ import annotations

import importlib.metadata
from types import SimpleNamespace

import pytest
import torch

import stylecap
from stylecap.core import host as plugins
from stylecap.core.errors import ConfigError, PluginError, UnknownComponentError, UsageError
from stylecap.core.registry import Entry, PluginInfo, Registry

from .conftest import Brightness, MeanShift


def fake_entry_points(monkeypatch, *eps):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: list(eps) if group == "stylecap" else [])


def ep(name, value):
    return importlib.metadata.EntryPoint(name=name, value=value, group="stylecap")


def test_registered_component_records_its_plugin(toy_plugin):
    entry = stylecap.registry("style").get("mean-shift")
    assert entry.cls is MeanShift
    assert entry.plugin == PluginInfo("toy")
    assert entry.cls.describe() == "Moves each channel's mean toward the style's (a tiny real backend for tests)."
    assert "brightness" in [e.name for e in stylecap.list_components("caption")]


def test_temporary_plugin_is_removed_after_unregister(toy_plugin):
    host = plugins.host()
    assert "mean-shift" in host.registry("style")
    host.unregister("toy")
    assert "mean-shift" not in host.registry("style")
    assert "toy" not in [r.info.name for r in host.plugins()]


def test_builtin_plugins_come_from_the_stylecap_distribution():
    records = {r.info.name: r for r in plugins.host().plugins()}
    eps = {e.name for e in importlib.metadata.entry_points(group="stylecap") if e.dist.name == "stylecap"}
    assert eps and eps <= set(records)
    for name in eps:
        assert records[name].info.distribution == "stylecap"
        assert records[name].info.version == stylecap.__version__


def test_broken_entry_point_is_reported_and_skipped(monkeypatch, capsys):
    fake_entry_points(monkeypatch, ep("broken", "no_such_module_xyz"), ep("good", "tests.conftest"))
    host = plugins.host()
    records = {r.info.name: r for r in host.plugins()}
    assert "No module named 'no_such_module_xyz'" in records["broken"].error
    assert records["good"].error is None
    assert "plugin 'broken'" in capsys.readouterr().err


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("STYLECAP_STRICT_PLUGINS", "1")
    fake_entry_points(monkeypatch, ep("broken", "no_such_module_xyz"))
    with pytest.raises(PluginError, match="no_such_module_xyz"):
        plugins.host()


def test_allowlist_and_blocklist(monkeypatch):
    fake_entry_points(monkeypatch, ep("a", "tests.plugin_a"), ep("b", "tests.plugin_b"))
    monkeypatch.setenv("STYLECAP_LOAD_PLUGINS", "b")
    assert [r.info.name for r in plugins.host().plugins()] == ["b"]
    plugins.reset()
    monkeypatch.setenv("STYLECAP_LOAD_PLUGINS", "")
    assert plugins.host().plugins() == []
    plugins.reset()
    monkeypatch.delenv("STYLECAP_LOAD_PLUGINS")
    monkeypatch.setenv("STYLECAP_DISABLE_PLUGINS", "a, c")
    assert [r.info.name for r in plugins.host().plugins()] == ["b"]


def test_misspelled_hook_is_caught_with_a_suggestion(capsys):
    plugin = SimpleNamespace(register_style_backend=stylecap.hookimpl(lambda register: None))
    record = plugins.host().register(plugin, "typo")
    assert "unknown hook 'register_style_backend'" in record.error
    assert "register_style_backends" in record.error
    assert not plugins.host().pm.has_plugin("typo")


def test_plugin_failing_inside_its_hook_is_skipped_whole(toy_plugin, capsys):
    class AlsoFine(Brightness):
        name = "also-fine"

    def bad(register):
        register(AlsoFine)
        raise RuntimeError("boom")

    plugin = SimpleNamespace(register_caption_backends=stylecap.hookimpl(bad))
    host = plugins.host()
    host.register(plugin, "bad")
    names = host.registry("caption").names()
    assert "brightness" in names and "also-fine" not in names  # the half-registered name is gone
    assert "boom" in {r.info.name: r for r in host.plugins()}["bad"].error


def test_duplicate_name_names_both_plugins(toy_plugin, capsys):
    plugin = SimpleNamespace(register_style_backends=stylecap.hookimpl(lambda register: register(MeanShift)))
    host = plugins.host()
    host.register(plugin, "copycat")
    error = {r.info.name: r for r in host.plugins()}["copycat"].error
    assert "registered twice" in error and "plugin toy" in error and "plugin copycat" in error
    assert host.registry("style").get("mean-shift").plugin.name == "toy"


def test_registry_rejects_duplicates_directly():
    reg = Registry("style")
    reg.add(Entry("style", "x", MeanShift, PluginInfo("one", "pkg-one", "1.0")))
    with pytest.raises(PluginError, match="pkg-one 1.0.*plugin two"):
        reg.add(Entry("style", "x", MeanShift, PluginInfo("two")))


def test_wrong_base_class_is_a_plugin_error(capsys):
    plugin = SimpleNamespace(register_style_backends=stylecap.hookimpl(lambda register: register(Brightness)))
    record = plugins.host().register(plugin, "wrongbase")
    plugins.host().plugins()
    assert "not a subclass of StyleBackend" in record.error


def test_unknown_name_lists_close_matches_and_available(toy_plugin):
    with pytest.raises(UnknownComponentError) as info:
        stylecap.create("style", "mean-shfit")
    message = str(info.value)
    assert "'mean-shfit'" in message and "did you mean 'mean-shift'" in message and "available:" in message
    assert info.value.exit_code == 2


def test_unknown_kind_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown component kind 'styles'"):
        stylecap.registry("styles")


def test_create_validates_config(toy_plugin):
    backend = stylecap.create("style", "mean-shift", amount="0.25")
    assert backend.config.amount == 0.25
    with pytest.raises(ConfigError, match="did you mean amount"):
        stylecap.create("style", "mean-shift", amont=1)
    with pytest.raises(ConfigError, match="'amount' is 'lots'"):
        stylecap.create("style", "mean-shift", amount="lots")


def test_component_modules_work_with_torch(toy_plugin):
    scale = stylecap.create("generator", "scale")
    assert isinstance(scale, torch.nn.Module)
    assert list(scale.state_dict()) == ["weight"]


BUILTINS = sorted(e.name for e in importlib.metadata.entry_points(group="stylecap") if e.dist.name == "stylecap")


def components_by_plugin() -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for entry in stylecap.list_components():
        found.setdefault(entry.plugin.name, set()).add((entry.kind, entry.name))
    return found


@pytest.mark.parametrize("disabled", BUILTINS)
def test_each_builtin_disabled_leaves_the_others_whole_or_naming_what_they_need(disabled, monkeypatch):
    everything = components_by_plugin()
    plugins.reset()
    monkeypatch.setenv("STYLECAP_DISABLE_PLUGINS", disabled)
    records = {r.info.name: r for r in plugins.host().plugins()}
    provided = components_by_plugin()
    assert disabled not in records and disabled not in provided
    lost = {disabled}
    while True:  # every plugin that needs a lost one, directly or through another, is lost too
        more = {n for n, r in records.items() if set(r.requires) & lost} - lost
        if not more:
            break
        lost |= more
    for name, record in records.items():
        if name in lost:
            missing = next(n for n in record.requires if n in lost)
            why = "is disabled by STYLECAP_DISABLE_PLUGINS" if missing == disabled else "failed to load"
            assert record.error == f"needs plugin {missing!r}, which {why}"
            assert name not in provided
        else:
            assert record.error is None, record.error
            assert provided.get(name, set()) == everything.get(name, set())


def test_requirements_name_the_missing_plugin(monkeypatch, capsys):
    monkeypatch.setenv("STYLECAP_DISABLE_PLUGINS", "captions")
    records = {r.info.name: r for r in plugins.host().plugins()}
    assert records["gumbel"].error == "needs plugin 'captions', which is disabled by STYLECAP_DISABLE_PLUGINS"
    assert "plugin 'gumbel' (stylecap" in capsys.readouterr().err
    with pytest.raises(UnknownComponentError, match="gumbel-transformer"):
        stylecap.create("caption", "gumbel-transformer")
    plugins.reset()
    monkeypatch.setenv("STYLECAP_DISABLE_PLUGINS", "")
    host = plugins.host()
    host.register(SimpleNamespace(requires=("no-such-plugin",)), "needy")
    assert {r.info.name: r for r in host.plugins()}["needy"].error == (
        "needs plugin 'no-such-plugin', which is not installed"
    )
