"""Plug-ins from outside the package (docs/extending.md): ``custom_imports``, the five registries, and how the
options check and pass on what they name (keyword arguments of any YAML type, one-line errors naming the key)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from dcls.archs import DCLS, Estimator
from dcls.config import validate
from dcls.degradation import DegradedBatch
from dcls.engine.trainer import build_degradation
from dcls.errors import ConfigError
from dcls.losses import LossTerm, build_loss_terms, named_inputs
from dcls.plugins import import_plugins
from dcls.registry import (
    ARCH_REGISTRY,
    DATASET_REGISTRY,
    DEGRADATION_REGISTRY,
    ESTIMATOR_REGISTRY,
    LOSS_REGISTRY,
    Registry,
)

REPO = Path(__file__).resolve().parents[1]
TINY = {"nf": 8, "nb": 1, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}
PLUGIN = '''
import torch
import torch.nn as nn
from dcls.registry import DATASET_REGISTRY, DEGRADATION_REGISTRY, ESTIMATOR_REGISTRY, LOSS_REGISTRY
from dcls.degradation import GaussianDegradation

SEEN = {}


@ESTIMATOR_REGISTRY.register()
class FlatEstimator(nn.Module):
    def __init__(self, kernel_size: int, gain: float = 1.0, layers: list | None = None) -> None:
        super().__init__()
        SEEN["estimator"] = {"kernel_size": kernel_size, "gain": gain, "layers": layers}
        self.kernel_size, self.scale = kernel_size, nn.Parameter(torch.ones(()))

    def forward(self, lr):
        k = self.kernel_size
        return (self.scale * torch.ones(lr.shape[0], 1, k, k, device=lr.device)).softmax(-1) / k


@LOSS_REGISTRY.register("recording")
class RecordingLoss(nn.Module):
    def __init__(self, eps: float = 1e-3, channels: list | None = None, extra: dict | None = None) -> None:
        super().__init__()
        SEEN["loss"] = {"eps": eps, "channels": channels, "extra": extra}

    def forward(self, sr, kernel, batch):
        SEEN["loss_inputs"] = (tuple(sr.shape), tuple(kernel.shape), type(batch).__name__)
        return sr.mean() * 0 + kernel.mean()


@DEGRADATION_REGISTRY.register("recording_blur")
class RecordingDegradation(GaussianDegradation):
    def __init__(self, scale: int, ksize: int = 21, schedule: dict | None = None) -> None:
        super().__init__(scale, ksize)
        SEEN["degradation"] = {"scale": scale, "schedule": schedule}


@DATASET_REGISTRY.register("HROnly")
class HROnly(torch.utils.data.Dataset):
    provides = ("GT",)
    roots = ("dataroot_GT",)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A plug-in module written outside the repository, importable from the working directory only."""
    name = "user_plugin"  # one name: importing it anew replaces its registrations (same qualified names)
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield name
    sys.modules.pop(name, None)


def _train_options(plugin_name: str, **changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load((REPO / "options/demo/train_demo_x4.yml").read_text())
    raw["custom_imports"] = [plugin_name]
    raw["network_G"]["setting"] = {**TINY}
    for key, value in changes.items():
        *parents, last = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return raw


def test_custom_imports_come_from_the_working_directory_before_validation(plugin: str) -> None:
    raw = _train_options(plugin, **{"network_G.setting.estimator": {"type": "FlatEstimator", "gain": "2e-1",
                                                                     "layers": [1, [2, 3]]}})
    opt, _ = validate(raw, is_train=True, check_paths=False)
    assert opt["network_G"]["setting"]["estimator"]["type"] == "FlatEstimator"
    seen = sys.modules[plugin].SEEN
    assert seen["estimator"] == {"kernel_size": 21, "gain": 0.2, "layers": [1, [2, 3]]}  # built while validating
    net = ARCH_REGISTRY.build("DCLS", **{**TINY, "estimator": opt["network_G"]["setting"]["estimator"]})
    kernel = net.Estimator(torch.rand(2, 3, 16, 16))
    assert type(net.Estimator).__name__ == "FlatEstimator" and kernel.shape == (2, 1, 21, 21)
    assert isinstance(seen["estimator"]["layers"], list) and isinstance(seen["estimator"]["layers"][1], list)


def test_a_module_that_cannot_be_imported_is_a_one_line_error_naming_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^custom_imports: cannot import 'absent_plugin' \(ModuleNotFoundError"):
        import_plugins(["absent_plugin"])
    (tmp_path / "broken_plugin.py").write_text("import torch\n\nraise RuntimeError('bad\\nthing')\n")
    with pytest.raises(ConfigError) as error:
        import_plugins(["broken_plugin"])
    assert str(error.value) == "custom_imports: cannot import 'broken_plugin' (RuntimeError: bad thing)"
    with pytest.raises(ConfigError, match="custom_imports: expected module names"):
        import_plugins([""])


def test_loss_terms_get_their_keyword_arguments_unchanged_and_the_inputs_they_name(plugin: str) -> None:
    losses = [{"type": "l1", "weight": 1.0},
              {"type": "recording", "weight": "5e-1", "eps": "1e-4", "channels": [0, 2], "extra": {"a": [1]}},
              {"type": "kernel_correction"}]
    opt, _ = validate(_train_options(plugin, **{"train.losses": losses}), is_train=True, check_paths=False)
    terms = build_loss_terms(opt["train"]["losses"])
    assert [(t.name, t.weight) for t in terms] == [("l1", 1.0), ("recording", 0.5), ("kernel_correction", 1.0)]
    assert sys.modules[plugin].SEEN["loss"] == {"eps": 1e-4, "channels": [0, 2], "extra": {"a": [1]}}
    assert type(sys.modules[plugin].SEEN["loss"]["extra"]) is dict
    assert [t.inputs for t in terms] == [None, ("sr", "kernel", "batch"), ("kernel", "batch")]
    sr = torch.rand(2, 3, 8, 8)
    batch = DegradedBatch(torch.rand(2, 3, 2, 2), torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24), None)
    value = terms[1]({"sr": sr, "hr": sr, "kernel": torch.full((2, 1, 21, 21), 0.5), "batch": batch})
    assert value.item() == pytest.approx(0.25)
    assert sys.modules[plugin].SEEN["loss_inputs"] == ((2, 3, 8, 8), (2, 1, 21, 21), "DegradedBatch")


def test_without_train_losses_the_original_terms_are_built_from_pixel_criterion(plugin: str) -> None:
    opt, _ = validate(_train_options(plugin, **{"train.pixel_criterion": "cb", "train.pixel_weight": 0.5}),
                      is_train=True, check_paths=False)
    assert opt["train"]["losses"] is None
    terms = build_loss_terms(opt["train"]["losses"], opt["train"]["pixel_criterion"], opt["train"]["pixel_weight"])
    assert [(t.name, type(t.loss).__name__, t.weight) for t in terms] == [
        ("l_pix", "CharbonnierLoss", 0.5), ("l_ker", "KernelCorrectionLoss", 1.0)]
    repeated = build_loss_terms([{"type": "l1"}, {"type": "l1", "weight": 2.0}, {"type": "l2", "name": "mse"}])
    assert [t.name for t in repeated] == ["l1", "l1_2", "mse"]


def test_an_image_loss_is_called_with_sr_and_hr_whatever_its_parameters_are_called() -> None:
    class Named(torch.nn.Module):
        def forward(self, sr: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (sr - target).abs().mean()

    class KernelOnly(torch.nn.Module):
        def forward(self, kernel: torch.Tensor) -> torch.Tensor:
            return kernel.sum()

    assert named_inputs(Named()) is None and named_inputs(torch.nn.L1Loss()) is None
    assert named_inputs(KernelOnly()) == ("kernel",)
    term = LossTerm("named", 2.0, Named(), named_inputs(Named()))
    available = {"sr": torch.ones(1, 3, 4, 4), "hr": torch.zeros(1, 3, 4, 4), "kernel": None, "batch": None}
    assert term(available).item() == 2.0


@pytest.mark.parametrize(("key", "value", "message"), [
    ("train.losses", [{"type": "recording", "epss": 1.0}],
     r"train.losses\[0\].epss: unknown option \(did you mean 'eps'\?\)"),
    ("train.losses", [{"type": "l11"}], r"train.losses\[0\].type: unknown loss 'l11' \(did you mean 'l1'\?"),
    ("train.losses", [{"weight": 1.0}], r"train.losses\[0\].type: required"),
    ("train.losses", [], r"train.losses: expected a non-empty list"),
    ("train.losses", [{"type": "l1", "weight": "heavy"}], r"train.losses\[0\].weight: expected float"),
    ("train.pixel_criterion", "l3", r"train.pixel_criterion: unknown loss 'l3'"),
    ("network_G.setting.estimator", {"type": "FlatEstimator", "gian": 2.0},
     r"network_G.setting.estimator.gian: unknown option \(did you mean 'gain'\?\)"),
    ("network_G.setting.estimator", {"type": "Flat"}, r"network_G.setting.estimator.type: unknown estimator 'Flat'"),
    ("network_G.setting.estimator", {"type": "FlatEstimator", "kernel_size": 11},
     r"network_G.setting.estimator.kernel_size: unknown option"),
    ("degradation", {"type": "recording_blur", "schedul": {}},
     r"degradation.schedul: unknown option \(did you mean 'schedule'\?\)"),
    ("degradation", {"type": "motion"}, r"degradation.type: unknown degradation 'motion'"),
    ("datasets.train.mode", "HR", r"datasets.train.mode: unknown dataset 'HR'"),
    ("datasets.val.mode", "HROnly", r"datasets.val.mode: HROnly provides GT, this phase needs LQ\+GT \(LQGT\)"),
])
def test_misnamed_plugins_and_keywords_are_one_line_errors_naming_the_key(plugin: str, key: str, value: Any,
                                                                           message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        validate(_train_options(plugin, **{key: value}), is_train=True, check_paths=False)
    assert "\n" not in str(error.value)


def test_degradation_type_defaults_to_the_papers_and_a_registered_one_is_built_with_the_scale(plugin: str) -> None:
    opt, _ = validate(_train_options(plugin), is_train=True, check_paths=False)
    assert opt["degradation"]["type"] == "gaussian"
    assert type(build_degradation(opt)).__name__ == "GaussianDegradation"
    schedule = {"steps": [100, 200], "sigma": {"min": 0.2}}
    opt, _ = validate(_train_options(plugin, degradation={"type": "recording_blur", "ksize": 21,
                                                           "schedule": schedule}), is_train=True, check_paths=False)
    degradation = build_degradation(opt)
    assert sys.modules[plugin].SEEN["degradation"] == {"scale": 4, "schedule": schedule}
    batch = degradation(torch.rand(2, 3, 96, 96), np.random.default_rng(0))
    assert isinstance(batch, DegradedBatch) and batch.lr_img.shape == (2, 3, 24, 24)


def test_a_registered_dataset_mode_is_accepted_and_checked_for_what_it_provides(plugin: str) -> None:
    opt, _ = validate(_train_options(plugin, **{"datasets.train.mode": "HROnly"}), is_train=True, check_paths=False)
    assert opt["datasets"]["train"]["mode"] == "HROnly" and "HROnly" in DATASET_REGISTRY


def test_validated_options_are_read_only(plugin: str) -> None:
    opt, _ = validate(_train_options(plugin), is_train=True, check_paths=False)
    with pytest.raises(TypeError):
        opt["train"]["manual_seed"] = 3
    with pytest.raises(TypeError):
        opt["datasets"]["train"]["batch_size"] = 3
    assert isinstance(opt["train"]["lr_steps"], tuple)


def test_registries_refuse_a_second_definition_under_one_name_but_take_a_reimported_one() -> None:
    registry = Registry("thing")

    def make() -> type:
        class Thing:
            pass
        return Thing

    first = make()
    registry.register()(first)
    registry.register()(make())  # the same definition again (its module imported anew): replaces it
    assert registry.get("Thing") is not first

    class Thing:  # another definition of the same name
        pass

    with pytest.raises(KeyError, match="thing 'Thing' is registered twice"):
        registry.register()(Thing)
    with pytest.raises(ConfigError, match=r"thing Thing: unknown argument 'size' \(it takes: none\)"):
        registry.build("Thing", size=3)


def test_the_papers_estimator_is_the_default_and_registered() -> None:
    assert ESTIMATOR_REGISTRY.get("Estimator") is Estimator
    assert {"l1", "l2", "cb", "kernel_correction"} <= set(LOSS_REGISTRY.names())
    assert "gaussian" in DEGRADATION_REGISTRY and {"GT", "LQGT", "LQ"} <= set(DATASET_REGISTRY.names())
    torch.manual_seed(0)
    default = DCLS(**TINY)
    torch.manual_seed(0)
    named = DCLS(**TINY, estimator={"type": "Estimator", "nf": 8, "para_len": 8, "in_nc": 3})
    assert type(default.Estimator) is Estimator
    assert default.state_dict().keys() == named.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), named.state_dict().values()))
