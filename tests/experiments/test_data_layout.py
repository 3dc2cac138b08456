"""The folders the configs read are the folders docs/data.md tells a user to prepare, with the builders' own names."""
import glob
import importlib.util
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name: str):
    spec = importlib.util.spec_from_file_location(f"_cfg_{name}", os.path.join(ROOT, "experiments/configs", name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layout_table() -> dict[str, str]:
    """docs/data.md's "layout the configs read": each row's command -> its --out folder, and the files it names."""
    with open(os.path.join(ROOT, "docs/data.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("### The layout the configs read", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `data/")]
    assert rows, "docs/data.md lost its layout table"
    return {re.search(r"--out (\S+)`", row).group(1): row for row in rows}


def test_every_folder_and_file_the_configs_read_is_documented_with_its_command():
    table = _layout_table()
    train = _config("tempr1_7b.py").get_config().data.train_dirs
    assert set(train) <= set(table), sorted(set(train) - set(table))
    assert _config("tempr1_3b.py").get_config().data.train_dirs == train
    bench = _config("eval_benchmark.py").get_config().benchmark
    for name in bench.run:
        split, annotations = bench[name].split, bench[name].annotations
        assert split in table, (name, split)
        for path in annotations:
            assert f"`{path}`" in table[split], (name, path)
    for out, row in table.items():  # each command runs the builder of that folder's dataset
        assert re.search(r"python datasets/(\w+)\.py", row), out


def test_builder_examples_use_the_documented_folders():
    table = _layout_table()
    for path in glob.glob(os.path.join(ROOT, "datasets", "*.py")):
        if path.endswith("synthetic.py"):
            continue
        with open(path, encoding="utf-8") as f:
            outs = re.findall(r"--out (data/\S+)", f.read())
        assert outs and all(o in table for o in outs), (path, outs)
