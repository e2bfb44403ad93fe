"""``demo.sh`` ends by printing the ``dcls-app`` command that opens the web page on the model it trained."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from dcls.app.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def test_demo_ends_with_the_app_command_on_its_model():
    script = (REPO / "demo.sh").read_text(encoding="utf-8")
    variables = dict(re.findall(r"^(\w+)=(\S+)$", script, re.M))
    echoes = re.findall(r'^echo "(.*)"$', script, re.M)
    last = echoes[-1]
    assert script.rstrip().splitlines()[-1] == 'exit "$status"' and "dcls-app" in last
    command = shlex.split(re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], last.split("&&")[-1]))
    assert command[0] == "dcls-app"
    args = build_parser().parse_args(command[1:])
    options = yaml.safe_load((REPO / args.opt).read_text(encoding="utf-8"))
    assert options["path"]["pretrain_model_G"] == variables["MODEL"].replace("$NAME", variables["NAME"])
    assert "setup_env.sh app" in last, "the command installs the app extra first"
