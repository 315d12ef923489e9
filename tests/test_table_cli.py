"""Tables end to end: `aekit train --dataset rows.csv`, `detect`, `encode`/`decode`, `eval`, HTTP, bad input."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

import aekit
from aekit.cli import main
from cli_helpers import fails

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AEKIT_DATA") or REPO.parent / "shared" / "data")


def wdbc_frame(n: int | None = None):
    """ADBench's WDBC (breast cancer, 10 of 367 rows malignant) as a table with ids, a category and labels;
    a synthetic stand-in when the shared data is absent."""
    if (DATA / "adbench" / "43_WDBC.npz").is_file():
        with np.load(DATA / "adbench" / "43_WDBC.npz") as d:
            x, y = d["X"], d["y"].astype(int)
    else:  # pragma: no cover - depends on the machine
        rng = np.random.default_rng(0)
        x = rng.normal(size=(367, 30))
        y = np.zeros(367, dtype=int)
        y[:10] = 1
        x[:10] += 6
    frame = pd.DataFrame(x[:n], columns=[f"c{i}" for i in range(x.shape[1])])
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame["shift"] = np.where(np.arange(len(frame)) % 3 == 0, "day", "night")
    frame["y"] = y[:n]
    return frame


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    csv_path = root / "rows.csv"
    wdbc_frame().to_csv(csv_path, index=False)
    out = root / "run"
    assert main(["train", "--dataset", str(csv_path), "--id-column", "id", "--label-column", "y", "--latent", "4",
                 "--epochs", "30", "--out", str(out), "--no-progress"]) == 0
    return root, csv_path, out


def test_train_on_a_csv_evaluates_against_pca_and_saves_a_threshold(table_run):
    _, _, out = table_run
    result = json.loads((out / "eval.json").read_text())
    assert result["kind"] == "table" and result["n"] > 50
    assert set(result["per_column"]) == {f"c{i}" for i in range(30)} | {"shift"}
    assert result["auroc"] > 0.8  # held-out rows, labels never used to train
    assert (out / "report.html").is_file() and (out / "columns.png").is_file()
    model = aekit.load_model(out)
    assert model.preprocessing.kind == "table" and model.preprocessing.names[-1] == "shift"
    assert model.config.data.id_column == "id" and "anomaly" in model.fitted


def test_the_default_table_run_is_the_detector_recipe_and_resumes_exactly(tmp_path):
    """No preset and no epochs: the denoising MLP on the table recipe's step budget (epochs of
    rows drawn afresh), the code-space term saved as AnomalyDetector() saves it; a run stopped
    part-way and resumed ends with the same weights."""
    from aekit.presets import ROW_BATCH, ROW_PRESET, row_schedule
    from aekit.thresholds import CodeNeighbours
    from test_train import same_weights

    csv_path = tmp_path / "rows.csv"
    wdbc_frame().to_csv(csv_path, index=False)
    common = ["--dataset", str(csv_path), "--id-column", "id", "--label-column", "y", "--no-progress"]
    assert main(["train", *common, "--out", str(tmp_path / "full")]) == 0
    record = json.loads((tmp_path / "full" / "run.json").read_text())
    config, n_train = record["config"], record["data_info"]["splits"]["train"]
    assert config["preset"] == ROW_PRESET
    epochs, drawn = row_schedule(n_train, ROW_BATCH)
    assert (config["train"]["epochs"], config["train"]["epoch_samples"], config["train"]["batch_size"]) == \
        (epochs, drawn, ROW_BATCH)
    assert drawn > n_train  # a small table: its rows repeat within an epoch
    assert CodeNeighbours.key in aekit.load_model(tmp_path / "full").fitted
    assert json.loads((tmp_path / "full" / "eval.json").read_text())["auroc"] > 0.8
    assert main(["train", *common, "--out", str(tmp_path / "part"), "--epochs", "3", "--no-eval",
                 "--set", f"train.epoch_samples={drawn}"]) == 0
    assert main(["train", "--resume", str(tmp_path / "part"), "--epochs", str(epochs), "--no-progress"]) == 0
    assert same_weights(tmp_path / "full", tmp_path / "part")


def test_detect_writes_scores_keyed_by_id_and_explains_the_top_rows(table_run, capsys):
    root, csv_path, out = table_run
    det = root / "det"
    assert main(["detect", str(out), str(csv_path), "-o", str(det), "--top", "5"]) == 0
    printed = capsys.readouterr().out
    assert "AUROC" in printed and "expected" in printed
    with open(det / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows[:2]] == ["r0", "r1"] and len(rows) == 367
    assert {"score", "rank", "anomaly", "label"} <= set(rows[0])
    result = json.loads((det / "detect.json").read_text())
    assert result["threshold"] > 0 and result["threshold_source"].startswith("saved with the model")
    assert result["auroc"] > 0.8
    top = result["most_anomalous"][0]
    assert top["rank"] == 1 and len(top["columns"]) == 3
    assert np.isclose(top["score"], max(float(r["score"]) for r in rows))
    with open(det / "top_rows.csv", newline="") as f:
        top_rows = list(csv.DictReader(f))
    assert len(top_rows) == 5 and top_rows[0]["id"] == top["id"]
    shares = [float(top_rows[0][f"contribution:c{i}"]) for i in range(30)] + [float(top_rows[0]["contribution:shift"])]
    # the score is the reconstruction error plus the code-space term; the columns' shares add up to the former
    assert np.isclose(sum(shares), float(top_rows[0]["reconstruction"]), rtol=1e-4)
    assert float(top_rows[0]["score"]) != float(top_rows[0]["reconstruction"])
    assert {"reconstruction"} <= set(rows[0])
    assert (det / "histogram.png").is_file() and (det / "report.html").is_file()


def test_detect_with_contamination_thresholds_the_inputs_themselves(table_run, capsys):
    root, csv_path, out = table_run
    assert main(["detect", str(out), str(csv_path), "-o", str(root / "det2"), "--contamination", "0.05",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.04 <= result["n_anomalies"] / result["n"] <= 0.06


def test_encode_to_parquet_and_decode_back_to_rows(table_run):
    root, csv_path, out = table_run
    codes = root / "codes.parquet"
    assert main(["encode", str(out), str(csv_path), "-o", str(codes)]) == 0
    frame = pd.read_parquet(codes)
    assert list(frame.columns) == ["id", "z0", "z1", "z2", "z3", "label"] and len(frame) == 367
    decoded = root / "decoded.csv"
    assert main(["decode", str(out), str(codes), "-o", str(decoded)]) == 0
    back = pd.read_csv(decoded)
    assert list(back.columns) == [f"c{i}" for i in range(30)] + ["shift"]
    assert set(back["shift"]) <= {"day", "night"}


def test_eval_of_a_table_run_reloads_its_table(table_run, capsys):
    _, _, out = table_run
    assert main(["eval", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "table" and result["pca_mse"] > 0


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["c4"]), "missing column(s) 'c4'"),
    (lambda f: f.rename(columns={"c5": "c5x"}), "(renamed?)"),
    (lambda f: f.assign(shift=["dawn"] + list(f["shift"][1:])), "unseen category 'dawn' at row(s) 0"),
    (lambda f: f.assign(c2=[np.nan] + list(f["c2"][1:])), "column(s) 'c2' at row(s) 0"),
    (lambda f: f.assign(c3=["abc"] + list(f["c3"][1:])), "column 'c3' is numeric; got text at row(s) 0 ('abc')"),
])
def test_detect_refuses_bad_rows_clearly_and_writes_nothing(table_run, capsys, change, message):
    root, _, out = table_run
    bad = root / "bad.csv"
    change(wdbc_frame(20)).to_csv(bad, index=False)
    fails(capsys, ["detect", str(out), str(bad), "-o", str(root / "bad_out")], message)
    assert not (root / "bad_out").exists()


@pytest.mark.parametrize("make, message", [
    (lambda f: f.assign(c3=["abc"] + list(f["c3"][1:])), "column 'c3' holds numbers, with text at row(s) 0"),
    (lambda f: f.assign(c2=[np.nan] + list(f["c2"][1:])), "missing values"),
    (lambda f: f.iloc[:1], "expected at least 2 rows"),
])
def test_train_refuses_bad_tables_and_keeps_the_previous_run(tmp_path, capsys, make, message):
    good, bad, out = tmp_path / "good.csv", tmp_path / "bad.csv", tmp_path / "run"
    wdbc_frame(60).to_csv(good, index=False)
    make(wdbc_frame(60)).to_csv(bad, index=False)
    assert main(["train", "--dataset", str(good), "--id-column", "id", "--label-column", "y", "--epochs", "1",
                 "--out", str(out), "--no-progress", "--no-eval"]) == 0
    before = (out / "model" / "model.safetensors").read_bytes()
    fails(capsys, ["train", "--dataset", str(bad), "--id-column", "id", "--label-column", "y", "--epochs", "1",
                   "--out", str(out), "--overwrite", "--no-progress"], message)
    assert (out / "model" / "model.safetensors").read_bytes() == before  # bad input never costs the old run
    fails(capsys, ["train", "--dataset", str(bad), "--id-column", "id", "--label-column", "y",
                   "--out", str(tmp_path / "new"), "--no-progress"], message)
    assert not (tmp_path / "new").exists()


def test_unreadable_and_unknown_table_files_are_clear_errors(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    fails(capsys, ["train", "--dataset", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "r")],
          "not a readable CSV table")
    fails(capsys, ["train", "--dataset", str(tmp_path / "junk.parquet"), "--out", str(tmp_path / "r")],
          "not a readable PARQUET table")
    fails(capsys, ["train", "--dataset", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r")], "does not exist")
    wdbc_frame(30).to_csv(tmp_path / "ok.csv", index=False)
    fails(capsys, ["train", "--dataset", str(tmp_path / "ok.csv"), "--label-column", "nope", "--out",
                   str(tmp_path / "r")], "label_column: no column 'nope'")
    fails(capsys, ["train", "--dataset", "digits", "--label-column", "y", "--out", str(tmp_path / "r")],
          "not a table file")


def test_rows_in_an_npy_train_as_a_table_and_a_rare_category_in_the_held_out_rows_is_known(tmp_path):
    """The issue's report: a (N, D) .npy was taken as one image. And a category seen only in the
    validation or test share must not break training."""
    x = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    np.save(tmp_path / "rows.npy", x)
    model = aekit.train("deep", dataset=str(tmp_path / "rows.npy"), out=tmp_path / "npy", epochs=2, latent_dim=2,
                        progress=False)
    assert model.preprocessing.kind == "table" and model.input_shape == (6,)
    frame = wdbc_frame(80)
    frame.loc[79, "shift"] = "dawn"  # one row: it lands in one split only
    frame.to_csv(tmp_path / "rare.csv", index=False)
    model = aekit.train("deep", dataset=str(tmp_path / "rare.csv"), out=tmp_path / "rare", epochs=1, latent_dim=2,
                        id_column="id", label_column="y", progress=False)
    assert "dawn" in model.preprocessing.columns[-1].categories


def test_http_scores_rows_with_contributions_and_refuses_bad_rows(table_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from aekit.serve.app import create_app

    _, _, out = table_run
    client = TestClient(create_app(aekit.load_model(out)))
    rows = wdbc_frame(4).drop(columns=["id", "y"])
    records = rows.to_dict(orient="records")
    answer = client.post("/score", json={"rows": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["scores"]) == 4 and body["threshold"] > 0 and len(body["anomaly"]) == 4
    # the columns' shares add up to the reconstruction error (the score adds the code-space term to it)
    assert np.isclose(sum(body["contributions"][0].values()), body["reconstruction"][0], rtol=1e-4)
    assert body["scores"][0] != body["reconstruction"][0]
    same = client.post("/score", json={"rows": {"columns": list(rows.columns), "data": rows.values.tolist()}})
    assert same.json()["scores"] == body["scores"]
    codes = client.post("/encode", json={"rows": records}).json()["codes"]
    assert np.asarray(codes).shape == (4, 4)
    decoded = client.post("/decode", json={"codes": codes}).json()["rows"]
    assert list(decoded[0]) == list(rows.columns)
    recon = client.post("/reconstruct", json={"rows": records[:1]}).json()
    assert recon["rows"][0]["shift"] in ("day", "night") and recon["errors"][0] >= 0
    unseen = dict(records[0], shift="dawn")
    answer = client.post("/score", json={"rows": [unseen]})
    assert answer.status_code == 422 and "unseen category 'dawn'" in answer.json()["detail"]
    answer = client.post("/score", json={"rows": [{k: v for k, v in records[0].items() if k != "c3"}]})
    assert answer.status_code == 422 and "missing column(s) 'c3'" in answer.json()["detail"]
    answer = client.post("/denoise", json={"rows": records})
    assert answer.status_code == 422 and "/score" in answer.json()["detail"]
    answer = client.post("/score", json={"rows": [{"c0": [1, 2]}]})
    assert answer.status_code == 422
    assert client.get("/models").json()["models"][0]["columns"][-1] == "shift"
