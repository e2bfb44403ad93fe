"""``scripts/stability_variants.py``: the stability study's network variants, plug-ins registered from outside the
package (custom_imports), are DCLS with one change each and load the same checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dcls.archs import DCLS
from dcls.plugins import import_plugins
from dcls.registry import ARCH_REGISTRY

REPO = Path(__file__).resolve().parents[1]
TINY = {"nf": 8, "nb": 1, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}


@pytest.fixture(scope="module")
def variants() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO / "scripts"))
        import_plugins(["stability_variants"])


def test_straight_through_clamp_has_the_same_outputs_and_restores_a_saturated_output(variants) -> None:
    """With every output pixel far above 1, the original clamp gives no gradient at all (training cannot
    recover); the straight-through variant's gradient pulls the output back, with the same outputs."""
    lr = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    grads = {}
    for name in ("DCLS", "DCLSStraightThroughClamp"):
        torch.manual_seed(1)
        net = ARCH_REGISTRY.build(name, **TINY)
        last = net.Restorer.upscale[-1]
        with torch.no_grad():
            last.bias.fill_(5.0)
        sr, _ = net(lr)
        assert torch.equal(sr, torch.ones_like(sr))
        torch.nn.functional.l1_loss(sr, torch.full_like(sr, 0.5)).backward()
        grads[name] = last.bias.grad
    assert torch.count_nonzero(grads["DCLS"]) == 0
    assert (grads["DCLSStraightThroughClamp"] > 0).all()  # gradient descent lowers the bias


def test_straight_through_clamp_loads_a_dcls_checkpoint_and_computes_the_same(variants) -> None:
    torch.manual_seed(0)
    reference = DCLS(**TINY).eval()
    variant = ARCH_REGISTRY.build("DCLSStraightThroughClamp", **TINY).eval()
    variant.load_state_dict(reference.state_dict(), strict=True)
    lr = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(variant(lr), reference(lr)))


def test_feature_init_rescales_only_the_feature_blocks_initial_weights(variants) -> None:
    """The same random draws as DCLS; exactly the feature block's convolution weights are multiplied."""
    torch.manual_seed(0)
    default = DCLS(**TINY).state_dict()
    torch.manual_seed(0)
    larger = ARCH_REGISTRY.build("DCLSFeatureInit", feature_init_scale=0.4, **TINY).state_dict()
    rescaled = {name for name in default if not torch.equal(default[name], larger[name])}
    assert rescaled == {f"Restorer.feature_block.{i}.conv{j}.weight" for i in range(3) for j in (1, 2)}
    for name in rescaled:
        torch.testing.assert_close(larger[name], 4 * default[name])
