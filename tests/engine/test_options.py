"""Option files and the command lines of train.py / test.py: validation, overrides, and one-line user errors."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest
import torch
import yaml

from dcls.archs import ARCH_REGISTRY, DCLS
from dcls.config import apply_overrides, load_options, signature_schema, validate
from dcls.degradation.synthesis import GaussianDegradation
from dcls.engine import cli
from dcls.engine.cli import train_main, train_parser
from dcls.engine.distributed import local_rank
from dcls.errors import ConfigError

OPTIONS = sorted((Path(__file__).resolve().parents[2] / "options").rglob("*.yml"))


def _is_train_file(path: Path) -> bool:
    return path.name.startswith("train")


def test_the_repository_has_train_and_test_option_files() -> None:
    names = {p.name for p in OPTIONS}
    for setting, scales in (("setting1", (2, 3, 4)), ("setting2", (2, 4))):
        for s in scales:
            assert f"train_{setting}_x{s}.yml" in names and f"test_{setting}_x{s}.yml" in names
    assert {"train_demo_x4.yml", "test_demo_x4.yml", "test_demo_realistic_x4.yml", "test_setting3_x4.yml"} <= names


@pytest.mark.parametrize("path", OPTIONS, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_every_options_file_validates_and_holds_only_keys_dcls_reads(path: Path) -> None:
    opt, ignored = load_options(path, is_train=_is_train_file(path), check_paths=False)
    assert opt["network_G"]["setting"]["upscale"] == opt["scale"]
    assert all(ds["scale"] == opt["scale"] for ds in opt["datasets"].values())
    assert not ignored, f"{path.name}: keys DCLS ignores would mislead a reader: {ignored}"


def test_original_keys_that_dcls_ignores_are_accepted_and_reported() -> None:
    train = next(p for p in OPTIONS if p.name == "train_setting1_x4.yml")
    raw = yaml.safe_load(train.read_text())
    assert "gpu_ids" in raw
    # The original's files carry these keys; the shipped ones no longer do.
    raw.update(pca_matrix_path="../../../pca_matrix/DCLS/pca_matrix.pth", model="blind", distortion="sr")
    raw["degradation"].update(code_length=10, random_kernel=True)
    raw["datasets"]["train"]["LR_size"] = 64
    opt, ignored = validate(raw, is_train=True, check_paths=False)
    assert {"pca_matrix_path", "model", "distortion", "degradation.code_length", "degradation.random_kernel",
            "datasets.train.LR_size"} <= set(ignored)
    assert opt["gpu_ids"] == (0, 1, 2, 3)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [("degradation.random_kernel", False, "random kernels"), ("model", "gan", "blind SR model only"),
     ("distortion", "jpeg", "super-resolution only")],
)
def test_legacy_keys_with_another_value_than_dcls_supports_are_errors(key: str, value: object, fragment: str) -> None:
    raw = yaml.safe_load(next(p for p in OPTIONS if p.name == "train_setting1_x4.yml").read_text())
    with pytest.raises(ConfigError, match=fragment):
        validate(apply_overrides(raw, [f"{key}={value}"]), is_train=True, check_paths=False)


def test_network_and_degradation_options_are_the_constructors_keyword_arguments(monkeypatch) -> None:
    """A newly registered architecture is configurable with its own arguments, without editing config.py."""
    assert set(signature_schema(DCLS)) == set(inspect.signature(DCLS).parameters)
    raw = yaml.safe_load(next(p for p in OPTIONS if p.name == "train_setting1_x4.yml").read_text())
    opt, _ = validate(raw, is_train=True, check_paths=False)
    assert set(opt["degradation"]) == {"type", *inspect.signature(GaussianDegradation).parameters} - {"scale"}

    def tiny_net(width: int, upscale: int = 4, depth: int | None = None, gain: float = 1.0) -> torch.nn.Module:
        return torch.nn.Conv2d(3, width, 1)

    monkeypatch.setitem(ARCH_REGISTRY._entries, "TinyNet", tiny_net)
    raw = yaml.safe_load(next(p for p in OPTIONS if p.name == "train_setting1_x4.yml").read_text())
    raw["network_G"] = {"which_model_G": "TinyNet", "setting": {"width": 8.0, "gain": 2}}
    raw["degradation"]["ksize"] = raw["datasets"]["train"]["GT_size"] // 4 - 1
    opt, _ = validate(raw, is_train=True, check_paths=False)
    assert opt["network_G"]["setting"] == {"width": 8, "upscale": 4, "depth": None, "gain": 2.0}
    raw["network_G"]["setting"]["kernel_size"] = 21
    with pytest.raises(ConfigError, match="network_G.setting.kernel_size: unknown option"):
        validate(raw, is_train=True, check_paths=False)
    del raw["network_G"]["setting"]["width"], raw["network_G"]["setting"]["kernel_size"]
    with pytest.raises(ConfigError, match="network_G.setting.width: required option is missing"):
        validate(raw, is_train=True, check_paths=False)


def test_gpu_ids_and_legacy_keys_do_not_stop_a_cpu_run(engine_data, eng, tmp_path, monkeypatch) -> None:
    opt = eng.train_options(engine_data, name="legacy", gpu_ids=[0, 1, 2, 3], pca_matrix_path="../pca.pth",
                            degradation={"code_length": 10}, train={"niter": 2, "val_freq": 100},
                            logger={"print_freq": 1, "save_checkpoint_freq": 2})
    opt["datasets"]["train"]["LR_size"] = 21
    monkeypatch.chdir(tmp_path)
    assert train_main(["-opt", str(eng.write_yaml(tmp_path / "o.yml", opt)), "--device", "cpu"]) == 0
    assert not logging.getLogger("dcls").handlers, "the run's log file must be closed when train_main returns"
    log = next((tmp_path / "experiments" / "legacy").glob("train_legacy_*.log")).read_text()
    ignored_line = next(line for line in log.splitlines() if "ignored options the original used" in line)
    assert "pca_matrix_path" in ignored_line and "degradation.code_length" in ignored_line
    assert "gpu_ids [0, 1, 2, 3] ignored: running on CPU" in log
    assert (tmp_path / "experiments" / "legacy" / "models" / "2_G.pth").is_file()


def _assert_one_line_error(rc: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


TRAIN_ERRORS = [
    (["train.nitr=5"], ("train.nitr", "unknown option", "did you mean 'niter'")),
    (["datasets.train.GT_sise=96"], ("GT_sise", "did you mean 'GT_size'")),
    (["train.niter=abc"], ("train.niter", "expected int", "abc")),
    (["train.lr_G=[1]"], ("train.lr_G", "expected float")),
    (["datasets.train.dataroot_GT=/no/such/train.lmdb"], ("datasets.train.dataroot_GT", "/no/such/train.lmdb")),
    (["datasets.val.dataroot_LQ=/no/such/lq"], ("datasets.val.dataroot_LQ", "not found")),
    (["datasets.train.GT_size=80"], ("datasets.train.GT_size", "kernel")),
    (["network_G.setting.kernel_size=15"], ("kernel_size", "15")),
    (["path.resume_state=/no/such.state"], ("path.resume_state", "not found")),
]


@pytest.mark.parametrize("overrides,fragments", TRAIN_ERRORS, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_train_user_errors_are_one_line_and_exit_2(overrides, fragments, engine_data, eng, tmp_path, monkeypatch,
                                                   capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path = eng.write_yaml(tmp_path / "o.yml", eng.train_options(engine_data))
    rc = train_main(["-opt", str(path), "--set", *overrides])
    _assert_one_line_error(rc, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "experiments").exists()


@pytest.mark.parametrize("missing", ["name", "scale", "train.niter", "datasets.train.GT_size"])
def test_a_missing_required_key_is_one_line_and_exit_2(missing, engine_data, eng, tmp_path, monkeypatch,
                                                        capsys) -> None:
    opt = eng.train_options(engine_data)
    *parents, last = missing.split(".")
    node = opt
    for key in parents:
        node = node[key]
    del node[last]
    monkeypatch.chdir(tmp_path)
    rc = train_main(["-opt", str(eng.write_yaml(tmp_path / "o.yml", opt))])
    _assert_one_line_error(rc, capsys.readouterr().err, missing)


def test_unreadable_options_files_are_one_line_errors(tmp_path, capsys) -> None:
    _assert_one_line_error(train_main(["-opt", str(tmp_path / "absent.yml")]), capsys.readouterr().err, "not found")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n")
    _assert_one_line_error(train_main(["-opt", str(bad)]), capsys.readouterr().err, "invalid YAML")
    bad.write_text("- a list\n")
    _assert_one_line_error(cli.test_main(["-opt", str(bad)]), capsys.readouterr().err, "mapping")


def test_test_py_user_errors(engine_data, eng, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    opt = eng.eval_options(engine_data, tmp_path / "absent.pth")
    path = eng.write_yaml(tmp_path / "t.yml", opt)
    _assert_one_line_error(cli.test_main(["-opt", str(path)]), capsys.readouterr().err, "path.pretrain_model_G",
                           "absent.pth")
    del opt["path"]
    eng.write_yaml(path, opt)
    _assert_one_line_error(cli.test_main(["-opt", str(path)]), capsys.readouterr().err, "path.pretrain_model_G")
    _assert_one_line_error(cli.test_main(["-opt", str(path), "--set", "datasets.test1.mode=GT",
                                      "path.pretrain_model_G=x"]), capsys.readouterr().err, "needs LQ (LQ or LQGT)")


def test_train_py_subprocess_reports_a_misspelled_key_in_one_line(engine_data, eng, tmp_path) -> None:
    path = eng.write_yaml(tmp_path / "o.yml", eng.train_options(engine_data))
    proc = eng.run_python([eng.TRAIN_PY, "-opt", path, "--set", "logger.print_frq=5"], cwd=tmp_path)
    _assert_one_line_error(proc.returncode, proc.stderr, "logger.print_frq", "did you mean 'print_freq'")
    assert not (tmp_path / "experiments").exists()


def test_set_overrides_reach_the_options(engine_data, eng, tmp_path) -> None:
    path = eng.write_yaml(tmp_path / "o.yml", eng.train_options(engine_data))
    opt, _ = load_options(path, is_train=True, overrides=[
        "train.niter=7", "train.lr_G=1e-3", "datasets.train.batch_size=4", "train.collapse_guard.lr_factor=0.25",
        "train.lr_steps=[3, 5]", "path.root=" + str(tmp_path / "elsewhere"),
    ])
    assert opt["train"]["niter"] == 7 and opt["train"]["lr_G"] == pytest.approx(1e-3)
    assert opt["datasets"]["train"]["batch_size"] == 4
    assert opt["train"]["collapse_guard"]["lr_factor"] == 0.25
    assert opt["train"]["lr_steps"] == (3, 5)
    assert opt["path"]["experiments_root"] == str(tmp_path / "elsewhere" / "experiments" / "tiny")
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        load_options(path, is_train=True, overrides=["train.niter"])
    with pytest.raises(ConfigError, match="'train.niter' is not a section"):
        load_options(path, is_train=True, overrides=["train.niter.x=1"])


def test_single_dash_and_double_dash_spellings() -> None:
    assert train_parser().parse_args(["-opt", "a.yml"]).opt == "a.yml"
    assert train_parser().parse_args(["--opt", "a.yml"]).opt == "a.yml"
    assert cli.test_parser().parse_args(["-opt", "b.yml", "--ensemble"]).ensemble
    args = train_parser().parse_args(["-opt", "a.yml", "--set", "a.b=1", "c=2", "--set", "d=3", "--auto-resume"])
    assert args.overrides == ["a.b=1", "c=2", "d=3"] and args.auto_resume


@pytest.mark.parametrize("flag", ["--local_rank=3", "--local-rank=3", "--local_rank", "--local-rank"])
def test_local_rank_spellings_of_torch_distributed_launch(flag, monkeypatch) -> None:
    argv = ["-opt", "a.yml", "--launcher", "pytorch", flag] + ([] if "=" in flag else ["3"])
    args = train_parser().parse_args(argv)
    assert args.local_rank == 3
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert local_rank(args.local_rank) == 3
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's variable wins
    assert local_rank(args.local_rank) == 1


def test_launcher_pytorch_without_a_launcher_is_a_user_error(engine_data, eng, tmp_path, monkeypatch,
                                                             capsys) -> None:
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    path = eng.write_yaml(tmp_path / "o.yml", eng.train_options(engine_data))
    rc = train_main(["-opt", str(path), "--launcher", "pytorch"])
    _assert_one_line_error(rc, capsys.readouterr().err, "torchrun")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_device_cuda_without_cuda_is_a_user_error(engine_data, eng, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path = eng.write_yaml(tmp_path / "o.yml", eng.train_options(engine_data))
    _assert_one_line_error(train_main(["-opt", str(path), "--device", "cuda"]), capsys.readouterr().err,
                           "CUDA is not available")
