import json
from types import SimpleNamespace

from real3d.models.cards import card_path, derived_card, read_card, tool_command, write_card


def test_card_round_trip_beside_the_weights(tmp_path):
    w = tmp_path / "m.safetensors"
    assert card_path(w) == tmp_path / "m.json"
    write_card(w, {"preset": "rgbd-tiny", "metrics": {"miou": 1.5}})
    assert read_card(w) == {"preset": "rgbd-tiny", "metrics": {"miou": 1.5}}
    assert (tmp_path / "m.json").read_text().endswith("}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no temporary left
    json.loads((tmp_path / "m.json").read_text())


def test_derived_card_drops_what_described_the_old_weights():
    model = SimpleNamespace(card={"config": {}, "metrics": {}, "preset": "x", "class_bias": [1]})
    card = derived_card(model)
    assert card == {"preset": "x", "class_bias": [1]}
    card["preset"] = "y"
    assert model.card["preset"] == "x"  # a copy
    assert derived_card(model, drop=("config", "class_bias")) == {"metrics": {}, "preset": "x"}
    assert derived_card(SimpleNamespace()) == {}


def test_tool_command_quotes_arguments():
    cmd = tool_command("tools/tune_decoder.py", ["x", "w.safetensors", "--data", "synth:kind=mixed,n=2 x"])
    assert cmd == "python tools/tune_decoder.py w.safetensors --data 'synth:kind=mixed,n=2 x'"
